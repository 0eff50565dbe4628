import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedAnomalySource } from '../../shared/adapters/embedded-anomalies';
import { FileHourlySeriesStore } from '../../shared/adapters/file-hourly-series';
import { TransientError } from '../../shared/errors';
import type { HourlySeriesStore } from '../../shared/ports';
import { DEFAULT_VOLUME_CONFIG, HOUR_MS, VolumeDetector } from '../../shared/volume/detector';
import { archivedEvent, HourlySeries, type HourlyRow } from '../../shared/volume/hourly';

const MONDAY = Date.parse('2026-03-02T00:00:00Z');
const STORM = Date.parse('2026-03-06T14:00:00Z');
const OUTAGE = Date.parse('2026-03-06T11:00:00Z');

interface Ev {
  type: string;
  timeMs: number;
  amountUsd?: number;
}

/**
 * Five weekdays of traffic, in time order: sales (40 an hour from 09:00 to 17:00 UTC, 2 an hour
 * otherwise, amounts varying), discounts (6 an hour all day); on Friday the shop's producer
 * sends 4 sales from 11:00 (an outage), and at 14:00 a loyalty job issues 60 discounts (a storm).
 */
function week(): Ev[] {
  const events: Ev[] = [];
  for (let h = 0; h < 5 * 24; h++) {
    const hourMs = MONDAY + h * HOUR_MS;
    const busy = h % 24 >= 9 && h % 24 < 17;
    const sales = hourMs === OUTAGE ? 4 : busy ? 40 + ((h * 7) % 5) : 2;
    const discounts = hourMs === STORM ? 60 : 6;
    for (let k = 0; k < sales; k++) events.push({ type: 'sale.recorded', timeMs: hourMs + Math.floor(((k + 0.5) / sales) * HOUR_MS), amountUsd: 1_000 + ((k * 37 + h) % 11) * 250 });
    for (let k = 0; k < discounts; k++) events.push({ type: 'discount.issued', timeMs: hourMs + Math.floor(((k + 0.25) / discounts) * HOUR_MS) });
  }
  return events.sort((a, b) => a.timeMs - b.timeMs);
}

class MemoryStore implements HourlySeriesStore {
  readonly reads: Array<{ fromMs: number; toMs: number }> = [];
  constructor(private readonly rows: HourlyRow[]) {}
  read(range: { fromMs: number; toMs: number }): Promise<HourlyRow[]> {
    this.reads.push(range);
    return Promise.resolve(this.rows.filter((r) => Date.parse(r.hour) >= range.fromMs && Date.parse(r.hour) < range.toMs));
  }
}

const seriesOf = (events: readonly Ev[]) => {
  const s = new HourlySeries();
  for (const e of events) s.add(e.type, e.timeMs, e.amountUsd);
  return s;
};

describe('EmbeddedAnomalySource: the detector in code over an hourly-series store', () => {
  const events = week();
  const rows = seriesOf(events).rows();
  const window = { fromMs: Date.parse('2026-03-06T09:00:00Z'), toMs: Date.parse('2026-03-06T16:00:00Z') };

  it('flags exactly what replay flags in the window, counting the events one by one (the same detector, the same series)', async () => {
    const replay = new VolumeDetector();
    for (const e of events) replay.count(e.type, e.timeMs, e.amountUsd);
    const inWindow = replay.close(window.toMs + DEFAULT_VOLUME_CONFIG.graceMs).filter((f) => Date.parse(f.hour) >= window.fromMs);

    const source = new EmbeddedAnomalySource(new MemoryStore(rows));
    const flagged = await source.detect(window);

    expect(flagged.map((h) => [h.series, new Date(h.hourMs).toISOString()])).toEqual([
      ['sale.recorded', '2026-03-06T11:00:00.000Z'],
      ['revenue_usd', '2026-03-06T11:00:00.000Z'],
      ['discount.issued', '2026-03-06T14:00:00.000Z'],
    ]);
    expect(flagged).toEqual(
      inWindow.map((f) => ({ series: f.series, hourMs: Date.parse(f.hour), expected: f.expected, actual: f.actual, lowerBound: f.lower_bound, upperBound: f.upper_bound })),
    );
    expect(flagged.find((h) => h.series === 'discount.issued')).toMatchObject({ actual: 60, expected: 6 });
    expect(source.basis).toBe('the seasonal baseline');
  });

  it('reads the hours the baselines reach (the lookback before the window) and judges nothing after the window', async () => {
    const store = new MemoryStore(rows);
    const early = { fromMs: Date.parse('2026-03-06T08:00:00Z'), toMs: Date.parse('2026-03-06T11:00:00Z') };
    expect(await new EmbeddedAnomalySource(store).detect(early)).toEqual([]);
    expect(store.reads).toEqual([{ fromMs: early.fromMs - (DEFAULT_VOLUME_CONFIG.lookbackDays + 1) * 24 * HOUR_MS, toMs: early.toMs }]);
  });

  it('judges nothing below the minimum history: two days of the same traffic and a storm are counted, not flagged', async () => {
    const twoDays = events.filter((e) => e.timeMs < MONDAY + 2 * 24 * HOUR_MS);
    twoDays.push(...Array.from({ length: 80 }, (_, k) => ({ type: 'discount.issued', timeMs: MONDAY + 24 * HOUR_MS + 14 * HOUR_MS + k })));
    const source = new EmbeddedAnomalySource(new MemoryStore(seriesOf(twoDays).rows()));
    expect(await source.detect({ fromMs: MONDAY, toMs: MONDAY + 2 * 24 * HOUR_MS })).toEqual([]);
  });
});

describe('HourlySeries: the rows the local stack keeps from the archive', () => {
  it('counts accepted events per type and hour, a sale adds its amount_usd and its square, rows merge by hour', () => {
    const a = archivedEvent(JSON.stringify({ specversion: '1.0', id: 's1', source: '//shop', type: 'sale.recorded', time: '2026-03-06T11:59:59.999+01:00', data: { amount_usd: 300 } }));
    expect(a).toEqual({ id: 's1', type: 'sale.recorded', timeMs: Date.parse('2026-03-06T10:59:59.999Z'), amountUsd: 300 });
    expect(archivedEvent('{"id":"d1","type":"discount.issued","time":"2026-03-06T10:00:00Z","data":{"amount_usd":5}}')).toEqual({ id: 'd1', type: 'discount.issued', timeMs: Date.parse('2026-03-06T10:00:00Z') });
    expect(archivedEvent('not json')).toBeUndefined();
    expect(archivedEvent('{"type":"x"}')).toBeUndefined();

    const s = new HourlySeries().add(a!.type, a!.timeMs, a!.amountUsd).add('sale.recorded', Date.parse('2026-03-06T10:00:00Z'), 400).add('discount.issued', Date.parse('2026-03-06T11:00:00Z'));
    const rows = s.rows();
    expect(rows).toEqual([
      { hour: '2026-03-06T10:00:00Z', counts: { 'sale.recorded': 2 }, revenue_usd: 700, revenue_usd_squares: 300 * 300 + 400 * 400 },
      { hour: '2026-03-06T11:00:00Z', counts: { 'discount.issued': 1 } },
    ]);
    expect(new HourlySeries().addRows(rows).addRows(rows).rows()[0]).toEqual({ hour: '2026-03-06T10:00:00Z', counts: { 'sale.recorded': 4 }, revenue_usd: 1400, revenue_usd_squares: 2 * (300 * 300 + 400 * 400) });
  });
});

describe('FileHourlySeriesStore', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hourly-series-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const rows: HourlyRow[] = [
    { hour: '2026-03-06T10:00:00Z', counts: { 'discount.issued': 3 } },
    { hour: '2026-03-06T11:00:00Z', counts: { 'discount.issued': 4 } },
  ];

  it('reads the rows of a range from the file', async () => {
    const path = join(dir, 'series.json');
    writeFileSync(path, JSON.stringify({ hours: rows }));
    const got = await new FileHourlySeriesStore(path).read({ fromMs: Date.parse('2026-03-06T11:00:00Z'), toMs: Date.parse('2026-03-06T12:00:00Z') });
    expect(got).toEqual([rows[1]]);
  });

  it('a file it cannot read is transient (the tick is retried); a file in another format is a bug that names the field', async () => {
    const missing = new FileHourlySeriesStore(join(dir, 'absent.json')).read({ fromMs: 0, toMs: Date.now() });
    await expect(missing).rejects.toBeInstanceOf(TransientError);
    await expect(missing).rejects.toMatchObject({ code: 'VOLUME_SERIES_UNREADABLE' });
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ hours: [{ hour: '2026-03-06T10:30:00Z', counts: {} }] }));
    const read = new FileHourlySeriesStore(bad).read({ fromMs: 0, toMs: Date.now() });
    await expect(read).rejects.toThrow(/start of a UTC hour/);
    await expect(read).rejects.not.toBeInstanceOf(TransientError);
  });
});
