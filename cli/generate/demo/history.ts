import { HOUR_MS } from '../../../shared/volume/detector';
import { HourlySeries, type HourlyRow } from '../../../shared/volume/hourly';
import { DemoBuilder, produce, type ProduceMix } from './world';

/** How many past days of the archive the demo brings: two weeks hold three of each kind of day (DESIGN §3's minimum history). */
export const HISTORY_DAYS = 14;
const DAY_MS = 24 * HOUR_MS;

/**
 * The archive's past for the demo (DESIGN §3, the hourly series): on each of the `days` days
 * before, the same span of the day carried the demo's clean traffic (the same mix, its own
 * random draw), and nothing else. What a deployment that has run for weeks has archived; the
 * local stack seeds its hourly series with it, so volume-monitor has baselines to judge the
 * demo's hours by. Aligned to whole days, a partial first hour has its partial past.
 */
export function volumeHistory(seed: number, startMs: number, endMs: number, mix: ProduceMix, days: number = HISTORY_DAYS): HourlyRow[] {
  const series = new HourlySeries();
  for (let d = 1; d <= days; d++) {
    const shift = d * DAY_MS;
    const b = new DemoBuilder(seed + d, endMs - shift, startMs - shift, endMs - shift);
    produce(b, mix);
    for (const item of b.items) {
      const e = item.event;
      if (!e) continue;
      const amount = e.type === 'sale.recorded' && typeof e.data.amount_usd === 'number' ? e.data.amount_usd : undefined;
      series.add(e.type, Date.parse(e.time), amount);
    }
  }
  return series.rows();
}
