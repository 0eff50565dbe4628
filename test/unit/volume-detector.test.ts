import { Finding } from '../../shared/findings';
import {
  DEFAULT_VOLUME_CONFIG,
  HOUR_MS,
  hourText,
  isWeekend,
  judge,
  SCAN_TO_CRM,
  VolumeDetector,
  type VolumeAnomaly,
  type VolumeConfig,
} from '../../shared/volume/detector';

const MONDAY = Date.parse('2026-03-02T00:00:00Z');
const DAY = 24 * HOUR_MS;
const config = DEFAULT_VOLUME_CONFIG;

describe('judge: one hour against its baseline', () => {
  const busy = [190, 205, 198, 210, 202, 195, 200];
  it.each([
    ['a busy hour at its usual level', 'count', busy, 185, 0, false],
    ['an 80 % drop of a busy hour', 'count', busy, 40, 0, true],
    ['a busy hour that vanished', 'count', busy, 0, 0, true],
    ['a 3x storm in a busy hour', 'count', busy, 600, 0, true],
    ['a night-time change of 3 to 8 events', 'count', [3, 2, 4, 3, 3], 8, 0, false],
    ['a night-time hour with no events', 'count', [3, 2, 4, 3, 3], 0, 0, false],
    ['a 30 % dip, under the minimum relative change', 'count', [100, 100, 100, 100, 100], 70, 0, false],
    ['scan_to_crm at its usual ratio', 'ratio', [0.85, 0.88, 0.86, 0.9], 0.8, 150, false],
    ['scan_to_crm with CRM syncs at 20 %', 'ratio', [0.85, 0.88, 0.86, 0.9], 0.18, 150, true],
  ] as const)('%s', (_name, kind, baseline, actual, scans, anomalous) => {
    const j = judge(kind, baseline, actual, scans, config);
    expect(j.kind).toBe('judged');
    if (j.kind !== 'judged') return;
    expect(j.anomalous).toBe(anomalous);
    expect(j.anomalous).toBe(actual < j.lower || actual > j.upper);
    expect(j.lower).toBeLessThanOrEqual(j.expected);
    expect(j.upper).toBeGreaterThanOrEqual(j.expected);
  });

  it('is not judged below the minimum history, however far off it is', () => {
    expect(judge('count', [200, 210], 0, 0, config)).toEqual({ kind: 'not_judged', history: 2 });
    expect(judge('count', [200, 210], 0, 0, { ...config, minHistoryDays: 2 })).toMatchObject({ kind: 'judged', anomalous: true });
  });

  it('flags more with a lower minimum relative change, and with fewer sigmas', () => {
    const flat = [100, 100, 100, 100, 100];
    expect(judge('count', flat, 55, 0, config)).toMatchObject({ anomalous: false, lower: 50 });
    expect(judge('count', flat, 55, 0, { ...config, minRelativeChange: 0.2 })).toMatchObject({ anomalous: true });
    const noisy = [150, 210, 180, 240, 170, 200, 190];
    const strict = judge('count', noisy, 300, 0, config);
    const sensitive = judge('count', noisy, 300, 0, { ...config, sigmas: 2 });
    expect(strict).toMatchObject({ anomalous: false });
    expect(sensitive).toMatchObject({ anomalous: true });
  });

  it('takes the median as expected value, so one odd day does not move it', () => {
    expect(judge('count', [100, 102, 98, 1000, 101], 100, 0, config)).toMatchObject({ expected: 101, anomalous: false });
  });
});

describe('isWeekend, hourText', () => {
  it.each([
    ['2026-03-02T10:00:00Z', false],
    ['2026-03-06T23:00:00Z', false],
    ['2026-03-07T00:00:00Z', true],
    ['2026-03-08T23:00:00Z', true],
    ['2026-03-09T00:00:00Z', false],
  ])('%s weekend: %s', (time, weekend) => {
    expect(isWeekend(Date.parse(time) / HOUR_MS)).toBe(weekend);
  });
  it('writes the hour start as RFC 3339 UTC', () => {
    expect(hourText(Date.parse('2026-03-02T10:00:00Z') / HOUR_MS)).toBe('2026-03-02T10:00:00Z');
  });
});

/** Relative traffic by hour of day: quiet nights, busy business hours. */
const PROFILE = [0.02, 0.02, 0.02, 0.02, 0.03, 0.05, 0.1, 0.3, 0.6, 0.9, 1, 1, 1, 1, 1, 0.9, 0.8, 0.6, 0.4, 0.3, 0.2, 0.1, 0.05, 0.03];

/** A deterministic wobble in [-1, 1], so clean series are not suspiciously exact. */
const wobble = (i: number) => Math.sin(i * 12.9898) * 0.999;

type Counts = (type: string, hourIndex: number, day: number, hourOfDay: number) => number;

/** Expected counts of a clean week: busy weekdays, weekends at 30 %. */
const seasonal =
  (peak: number): Counts =>
  (_type, i, day, h) => {
    const weekend = isWeekend(Math.floor(MONDAY / HOUR_MS) + i);
    const level = peak * PROFILE[h]! * (weekend ? 0.3 : 1) * (1 + 0.004 * day);
    return Math.max(0, Math.round(level * (1 + 0.05 * wobble(i)) + Math.sqrt(level) * wobble(i + 7)));
  };

/** Feeds a detector hour by hour with events spread over each hour, as a replay would. */
function run(days: number, counts: Counts, types: readonly string[], detectorConfig: VolumeConfig = config) {
  const detector = new VolumeDetector(detectorConfig);
  const found: VolumeAnomaly[] = [];
  let watermark = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < days * 24; i++) {
    const hourMs = MONDAY + i * HOUR_MS;
    const events: [string, number][] = [];
    for (const type of types) {
      const n = counts(type, i, Math.floor(i / 24), i % 24);
      for (let k = 0; k < n; k++) events.push([type, hourMs + Math.floor(((k + 0.5) / n) * HOUR_MS)]);
    }
    events.sort((a, b) => a[1] - b[1]);
    for (const [type, t] of events) {
      if (t > watermark) {
        watermark = t;
        found.push(...detector.close(watermark));
      }
      detector.count(type, t);
    }
  }
  found.push(...detector.close(MONDAY + days * DAY + HOUR_MS));
  return { found, summary: detector.summary() };
}

describe('VolumeDetector over a stream', () => {
  it('flags nothing on a clean seasonal series of three weeks', () => {
    const { found, summary } = run(21, seasonal(200), ['card.scanned', 'sale.recorded']);
    expect(found).toEqual([]);
    // card.scanned, sale.recorded, and scan_to_crm (0 here: no CRM syncs at all, steadily).
    expect(summary.series_judged).toBe(3);
    expect(summary.hours_judged).toBeGreaterThan(2 * 24 * 14);
    expect(summary.hours_not_judged).toBeGreaterThan(0);
    expect(summary.anomalies).toBe(0);
  });

  it('flags an 80 % drop in a busy hour, once, with the fields of DESIGN §4', () => {
    const base = seasonal(200);
    const outage = Date.parse('2026-03-12T11:00:00Z');
    const { found } = run(14, (type, i, d, h) => base(type, i, d, h) * (MONDAY + i * HOUR_MS === outage && type === 'sale.recorded' ? 0.2 : 1), [
      'card.scanned',
      'sale.recorded',
    ]);
    expect(found).toHaveLength(1);
    const f = found[0]!;
    expect(Finding.parse(f)).toEqual(f);
    expect(f).toMatchObject({ kind: 'volume_anomaly', action: 'reported', series: 'sale.recorded', hour: '2026-03-12T11:00:00Z' });
    expect(f.actual).toBeLessThan(f.lower_bound);
    expect(f.expected).toBeGreaterThan(150);
  });

  it('does not flag a night-time change of 3 to 8 events', () => {
    const night = Date.parse('2026-03-12T02:00:00Z');
    const { found } = run(14, (_t, i, _d, h) => (MONDAY + i * HOUR_MS === night ? 8 : h < 6 ? 3 : 100), ['lead.tagged']);
    expect(found).toEqual([]);
  });

  it('keeps a flagged hour out of later baselines: a three-day outage is flagged every day', () => {
    // A baseline of the last three usable days: were flagged hours kept, the third day's would be 0, 0, 200.
    const short = { ...config, baselineDays: 3 };
    const outageDays = new Set(['2026-03-05', '2026-03-06', '2026-03-09']);
    const { found } = run(
      8,
      (_t, i, _d, h) => {
        const date = new Date(MONDAY + i * HOUR_MS).toISOString().slice(0, 10);
        if (h !== 11) return 10;
        return outageDays.has(date) ? 0 : 200;
      },
      ['call.completed'],
      short,
    );
    expect(found.map((f) => [f.hour, f.actual, f.expected])).toEqual([
      ['2026-03-05T11:00:00Z', 0, 200],
      ['2026-03-06T11:00:00Z', 0, 200],
      ['2026-03-09T11:00:00Z', 0, 200],
    ]);
  });

  it('sees a producer that stopped: hours without any event count as 0', () => {
    const stop = Date.parse('2026-03-11T09:00:00Z');
    const { found } = run(10, (type, i, d, h) => {
      const t = MONDAY + i * HOUR_MS;
      if (type === 'sale.recorded' && t >= stop && t < stop + 3 * HOUR_MS) return 0;
      return seasonal(200)(type, i, d, h);
    }, ['sale.recorded', 'card.scanned']);
    expect(found.map((f) => [f.series, f.hour, f.actual])).toEqual([
      ['sale.recorded', '2026-03-11T09:00:00Z', 0],
      ['sale.recorded', '2026-03-11T10:00:00Z', 0],
      ['sale.recorded', '2026-03-11T11:00:00Z', 0],
    ]);
  });

  it('judges scan_to_crm only in hours with at least 20 scans, and flags CRM syncs at 20 %', () => {
    const incident = Date.parse('2026-03-12T13:00:00Z');
    const { found } = run(
      14,
      (type, i, d, h) => {
        const scans = seasonal(100)('card.scanned', i, d, h);
        if (type === 'card.scanned') return scans;
        return Math.round(scans * 0.9 * (MONDAY + i * HOUR_MS === incident ? 0.2 : 1));
      },
      ['card.scanned', 'crm.synced'],
    );
    expect(found.map((f) => [f.series, f.hour])).toEqual([
      ['crm.synced', '2026-03-12T13:00:00Z'],
      [SCAN_TO_CRM, '2026-03-12T13:00:00Z'],
    ]);
    const ratio = found[1]!;
    expect(ratio.actual).toBeCloseTo(0.18, 1);
    expect(ratio.expected).toBeCloseTo(0.9, 1);
  });

  it('does not judge the silent hours between events further apart than the lookback, in whichever order the watermark passes them', () => {
    // Found by the fuzz suite: one accepted event dated year 0000 made the replay judge every
    // empty hour from then to now (17.8 million hours per series, half a minute of CPU each).
    const lookbackHours = config.lookbackDays * 24;
    const now = Date.parse('2026-03-02T10:00:00Z');
    const tenYearsAgo = now - 10 * 365 * DAY;
    const seen = (d: VolumeDetector) => d.summary().hours_judged + d.summary().hours_not_judged;
    const together = new VolumeDetector(config);
    together.count('sale.recorded', tenYearsAgo);
    together.count('sale.recorded', now);
    together.close(now + 2 * HOUR_MS);
    // The lookback after the old event, the hour of the new one: as when the watermark had passed the silence first.
    const apart = new VolumeDetector(config);
    apart.count('sale.recorded', tenYearsAgo);
    apart.close(now - HOUR_MS);
    apart.count('sale.recorded', now);
    apart.close(now + 2 * HOUR_MS);
    expect(seen(together)).toBe(seen(apart));
    expect(seen(together)).toBeLessThanOrEqual(lookbackHours + 2);
  });

  it('judges an hour once, after the grace period, and counts events that come after it as late', () => {
    const d = new VolumeDetector({ ...config, minHistoryDays: 0 });
    const t0 = Date.parse('2026-03-02T10:00:00Z');
    d.count('sale.recorded', t0 + 1000);
    expect(d.nextCloseAt).toBe(t0 + HOUR_MS + config.graceMs);
    expect(d.close(t0 + HOUR_MS + config.graceMs - 1)).toEqual([]);
    expect(d.summary().hours_judged).toBe(0);
    d.close(t0 + HOUR_MS + config.graceMs);
    expect(d.summary().hours_judged).toBe(1);
    d.count('sale.recorded', t0 + 2000);
    d.close(t0 + 2 * HOUR_MS + config.graceMs);
    expect(d.summary()).toMatchObject({ hours_judged: 2, late_events: 1 });
  });
});

describe('the revenue_usd series: the hour\'s sales total in US cents', () => {
  /** 14 days of sales: `perHour` sales an hour of `amount` cents each, hour by hour; `incident` changes one hour. */
  function sales(incident: { at: string; amount?: number; count?: number } | undefined) {
    const d = new VolumeDetector(config);
    const found: VolumeAnomaly[] = [];
    const at = incident ? Date.parse(incident.at) : Number.NaN;
    for (let i = 0; i < 14 * 24; i++) {
      const hourMs = MONDAY + i * HOUR_MS;
      const busy = new Date(hourMs).getUTCHours() >= 9 && new Date(hourMs).getUTCHours() < 18;
      const n = hourMs === at && incident?.count !== undefined ? incident.count : isWeekend(Math.floor(hourMs / HOUR_MS)) ? 4 : busy ? 40 : 6;
      for (let k = 0; k < n; k++) {
        // Baskets of $15 to $60, the same each day; an incident hour's sales may be priced apart.
        const amount = hourMs === at && incident?.amount !== undefined ? incident.amount : 1500 * (1 + ((i + k) % 4));
        d.count('sale.recorded', hourMs + k * 1000, amount);
      }
      found.push(...d.close(hourMs + HOUR_MS + config.graceMs + 1));
    }
    return found.filter((f) => f.series === 'revenue_usd');
  }

  it('flags nothing on steady sales, judged hour by hour', () => {
    expect(sales(undefined)).toEqual([]);
  });

  it('flags a busy hour whose sales total is ten times its usual, with the same number of sales', () => {
    const found = sales({ at: '2026-03-12T13:00:00Z', amount: 37_500 });
    expect(found.map((f) => [f.hour, f.actual])).toEqual([['2026-03-12T13:00:00Z', 40 * 37_500]]);
    expect(found[0]).toMatchObject({ kind: 'volume_anomaly', action: 'reported', series: 'revenue_usd', expected: expect.any(Number) });
    expect(found[0]!.reason).toMatch(/^sales of 1500000 US cents in the hour from 2026-03-12T13:00:00Z: above the expected range/);
    expect(Finding.safeParse(found[0]).success).toBe(true);
  });

  it('flags a busy hour whose sales stopped', () => {
    expect(sales({ at: '2026-03-12T13:00:00Z', count: 0 }).map((f) => [f.hour, f.actual])).toEqual([['2026-03-12T13:00:00Z', 0]]);
  });

  it('widens the band by the hour\'s noise: a few large orders are not flagged where they are usual', () => {
    const baseline = [150_000, 152_000, 149_000, 151_000, 150_500];
    // The same total; from a few large orders its noise (sales x mean squared amount) is large, from many small ones not.
    expect(judge('amount', baseline, 240_000, 4 * 37_500 ** 2, config)).toMatchObject({ anomalous: false });
    expect(judge('amount', baseline, 240_000, 100 * 1500 ** 2, config)).toMatchObject({ anomalous: true });
  });
});
