/**
 * `npm run volume:eval`: holds the volume detector to DESIGN §3 on generated three-week logs
 * (tools/bench/volume-log.ts: daily and weekly seasonality, slow growth, three incidents per log),
 * each replayed through `event-recovery replay` as a user would. Prints, per seed and in total,
 * the incidents flagged and the false alarms (volume findings outside every incident's
 * footprint) per week, across all series.
 *
 *   npm run volume:eval                          seeds 1..5, 21 days, default settings (-- --seeds 8: the figures in the README)
 *   npm run volume:eval -- --seeds 10 --days 28  more
 *   npm run volume:eval -- --sigmas 4            another sensitivity
 */
import { createReadStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runReplay } from '../../cli/replay/run';
import { Finding } from '../../shared/findings';
import type { VolumeConfig } from '../../shared/volume/detector';
import { generateVolumeLog, type Incident } from './volume-log';

const HOUR = 3_600_000;

interface SeedResult {
  seed: number;
  events: number;
  incidents: { incident: Incident; flaggedHours: number }[];
  falseAlarms: { series: string; hour: string }[];
  anomalies: number;
  hoursJudged: number;
}

/** A finding belongs to an incident when it names one of its series in its hours or the hour after (chains spill over). */
function within(incident: Incident, series: string, hourMs: number): boolean {
  return incident.series.includes(series) && hourMs >= incident.startMs && hourMs <= incident.startMs + incident.hours * HOUR;
}

async function evaluate(seed: number, days: number, volume: Partial<VolumeConfig>): Promise<SeedResult> {
  const dir = mkdtempSync(join(tmpdir(), 'er-volume-'));
  try {
    const file = join(dir, 'events.ndjson');
    const log = await generateVolumeLog(file, { seed, days });
    const summary = await runReplay({
      input: createReadStream(file, { highWaterMark: 1 << 20 }),
      outDir: join(dir, 'out'),
      now: log.endMs + 24 * HOUR,
      env: {},
      volume,
    });
    const findings = readFileSync(join(dir, 'out', 'findings.ndjson'), 'utf8')
      .split('\n')
      .filter((l) => l.includes('"volume_anomaly"'))
      .map((l) => Finding.parse(JSON.parse(l)))
      .flatMap((f) => (f.kind === 'volume_anomaly' ? [f] : []));
    const result: SeedResult = {
      seed,
      events: log.events,
      incidents: log.incidents.map((incident) => ({ incident, flaggedHours: 0 })),
      falseAlarms: [],
      anomalies: findings.length,
      hoursJudged: summary.volume?.hours_judged ?? 0,
    };
    for (const f of findings) {
      const hourMs = Date.parse(f.hour);
      const hit = result.incidents.filter((r) => within(r.incident, f.series, hourMs));
      for (const r of hit) if (f.series === r.incident.type) r.flaggedHours++;
      if (hit.length === 0) result.falseAlarms.push({ series: f.series, hour: f.hour });
    }
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  const { values } = parseArgs({
    options: {
      seeds: { type: 'string', default: '5' },
      days: { type: 'string', default: '21' },
      sigmas: { type: 'string' },
      'min-change': { type: 'string' },
    },
  });
  const seeds = Number(values.seeds);
  const days = Number(values.days);
  const volume: Partial<VolumeConfig> = {
    ...(values.sigmas ? { sigmas: Number(values.sigmas) } : {}),
    ...(values['min-change'] ? { minRelativeChange: Number(values['min-change']) / 100 } : {}),
  };
  let incidents = 0;
  let flagged = 0;
  let falseAlarms = 0;
  for (let seed = 1; seed <= seeds; seed++) {
    const r = await evaluate(seed, days, volume);
    incidents += r.incidents.length;
    flagged += r.incidents.filter((i) => i.flaggedHours > 0).length;
    falseAlarms += r.falseAlarms.length;
    const described = r.incidents
      .map(({ incident: i, flaggedHours }) => `${i.kind} ${i.type} x${i.factor} ${i.hours}h: ${flaggedHours}/${i.hours} h flagged`)
      .join('; ');
    process.stdout.write(
      `seed ${seed}: ${r.events.toLocaleString('en-US')} events, ${r.hoursJudged.toLocaleString('en-US')} series-hours judged, ${r.anomalies} anomalies; ${described}; false alarms ${r.falseAlarms.length}${
        r.falseAlarms.length ? ` (${r.falseAlarms.map((f) => `${f.series} ${f.hour}`).join(', ')})` : ''
      }\n`,
    );
  }
  const weeks = (seeds * days) / 7;
  process.stdout.write(
    `total: ${flagged}/${incidents} incidents flagged; ${falseAlarms} false alarms in ${weeks.toFixed(1)} weeks of logs = ${(falseAlarms / weeks).toFixed(2)} a week across all series\n`,
  );
}

void main();
