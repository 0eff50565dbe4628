import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Finding } from '../../shared/findings';
import { discountIssued, ndjson, saleRecorded } from '../support/events';
import { readOutputs, replayText } from '../support/replay';

const HOUR = 3_600_000;
const MONDAY = Date.parse('2026-03-02T00:00:00Z');
const NOW = Date.parse('2026-03-20T00:00:00Z');
const OUTAGE = Date.parse('2026-03-06T11:00:00Z');

/**
 * Five weekdays of sales: 40 an hour from 09:00 to 17:00 UTC, 2 an hour otherwise, in time
 * order; on Friday from 11:00 the shop's producer delivers only 4 sales in the hour.
 */
function week(): string {
  const events: object[] = [];
  let n = 0;
  for (let h = 0; h < 5 * 24 + 2; h++) {
    const hourMs = MONDAY + h * HOUR;
    const busy = h % 24 >= 9 && h % 24 < 17;
    const count = hourMs === OUTAGE ? 4 : busy ? 40 + ((h * 7) % 5) : 2;
    for (let k = 0; k < count; k++) {
      const time = new Date(hourMs + Math.floor(((k + 0.5) / count) * HOUR)).toISOString();
      n++;
      events.push(saleRecorded({ id: `s-${n}`, time, data: { order_id: `o-${n}` } }));
    }
  }
  return ndjson(...events);
}

describe('volume anomalies in replay', () => {
  it('reports the outage hour once it is closed, and a volume section in summary.json', async () => {
    const { findings, summary } = await replayText(week(), { now: NOW });
    const volume = findings.filter((f) => f.kind === 'volume_anomaly');
    // The sales that stopped show twice: as a count, and as the hour's sales total (revenue_usd).
    expect(volume.map((v) => [v.kind === 'volume_anomaly' ? v.series : '', v.kind === 'volume_anomaly' ? v.hour : ''])).toEqual([
      ['sale.recorded', '2026-03-06T11:00:00Z'],
      ['revenue_usd', '2026-03-06T11:00:00Z'],
    ]);
    const f = Finding.parse(volume[0]);
    expect(f).toMatchObject({ kind: 'volume_anomaly', action: 'reported', series: 'sale.recorded', hour: '2026-03-06T11:00:00Z', actual: 4 });
    expect(f).not.toHaveProperty('line');
    expect(Finding.parse(volume[1])).toMatchObject({ series: 'revenue_usd', actual: 4 * 3500 });
    // Monday to Wednesday have too little history, Thursday and Friday are judged; the last closed
    // hour, Saturday 00:00, has no weekend before it; Saturday 01:00 is still open.
    expect(summary.volume).toEqual({ series_judged: 2, hours_judged: 96, hours_not_judged: 146, anomalies: 2, late_events: 0 });
    expect(summary.findings_by_kind.volume_anomaly).toBe(2);
  });

  it('judges nothing more when the history is too short for the minimum, and says so', async () => {
    const { findings, summary } = await replayText(week(), { now: NOW, volume: { minHistoryDays: 5 } });
    expect(findings.filter((f) => f.kind === 'volume_anomaly')).toEqual([]);
    expect(summary.volume).toMatchObject({ hours_judged: 0, anomalies: 0 });
  });

  it('leaves the outputs as they were when the detector finds nothing, bar the summary section', async () => {
    const text = ndjson(discountIssued({ id: 'd1' }), discountIssued({ id: 'd2', data: { user_id: 'u2' } }));
    const on = await replayText(text);
    const off = await replayText(text, { volume: false });
    expect(on.findings).toEqual(off.findings);
    expect(on.events).toEqual(off.events);
    const { volume, ...rest } = on.summary;
    expect(rest).toEqual(off.summary);
    expect(volume).toEqual({ series_judged: 0, hours_judged: 0, hours_not_judged: 0, anomalies: 0, late_events: 0 });
  });

  it('takes the sensitivity and minimum history from the command line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'volume-cli-'));
    const input = join(dir, 'in.ndjson');
    writeFileSync(input, week());
    const cli = resolve(__dirname, '../../dist/cli/event-recovery.js');
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [cli, 'replay', input, '--out', join(dir, 'out'), '--now', new Date(NOW).toISOString(), '--quiet', ...args], {
        encoding: 'utf8',
      });
    const strict = run('--volume-min-change', '99');
    expect(strict.status).toBe(0);
    expect(strict.stdout).toMatch(/^volume: 96 series-hours judged over 2 series, 146 not judged \(too little history\), 0 anomalies$/m);
    expect(readOutputs(join(dir, 'out')).summary.volume?.anomalies).toBe(0);
    const lenient = run('--volume-min-days', '2', '--volume-sigmas', '4');
    expect(lenient.status).toBe(0);
    expect(readOutputs(join(dir, 'out')).summary.volume).toMatchObject({ hours_judged: 144, hours_not_judged: 98, anomalies: 2 }); // sale.recorded and revenue_usd alike
    const bad = run('--volume-sigmas', 'none');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe('event-recovery: --volume-sigmas must be a positive number\n');
  });
});
