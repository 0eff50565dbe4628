/**
 * `npm run bench`: measures the embedded replay against a bare readline + JSON.parse pass over
 * the same generated log, in the same run, each in its own process; prints events/s, the ratio
 * and peak RSS. Figures are printed, never asserted: these machines are shared and noisy.
 *
 *   npm run bench                      500,000 events, then 1,000,000 for the memory figure, then
 *                                      gap-detector against the Firestore emulator
 *   npm run bench -- --events 200000   one replay size only
 *   npm run bench -- --no-firestore    skip the gap-detector / Firestore part
 *   npm run bench -- --no-lookups      skip the Stripe/Twilio lookups bench (tools/bench/lookups.ts)
 *
 * Each replay size is also run without the volume detector, and a three-week seasonal log with
 * and without it, so the detector's cost is a ratio taken in the same run.
 *   npm run bench -- --month           also 10,000,000 events over 30 days of event time, generated
 *                                      into a FIFO while replay reads it (nothing written to disk);
 *                                      opt-in: about half an hour on a loaded 2-core machine
 *   npm run bench -- --month-events N  the same with N events over 30 days
 *   npm run bench -- --month-events N --month-days D   N events over D days: at 10M/30 days' rate
 *                                      (e.g. 4,000,000 over 12 days) the state reaches its bound
 *                                      (a 7-day window and retention) in a third of the time
 *   npm run bench -- --workers N       replay's worker threads (default: 1, 0 on one core); each size is
 *                                      also run with --workers 0 (single-threaded)
 *
 * Wall time on a shared machine depends on its load; CPU time (user + system) much less, so
 * both are printed, each as a ratio to the bare pass of the same run.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultWorkers } from '../../cli/replay/pool';
import { benchGapDetector } from './gap-detector';
import { benchLookups } from './lookups';
import { benchRates, BENCH_START_MS, generateLog } from '../../cli/generate/log';
import { generateVolumeLog } from './volume-log';
import { detectorAlone } from './volume-alone';

interface Pass {
  lines: number;
  ms: number;
  cpuMs: number;
  maxRssBytes: number;
}

function child(args: string[]): Pass {
  const out = execFileSync(process.execPath, [join(__dirname, 'child.js'), ...args], { encoding: 'utf8', maxBuffer: 1 << 20 });
  return JSON.parse(out.trim().split('\n').pop()!) as Pass;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
/** The machine's load as the figures are taken: wall times on a shared machine depend on it. */
const load = () => `load average ${loadavg().map((l) => l.toFixed(1)).join(', ')} on ${availableParallelism()} cores`;
const mib = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MiB`;

async function benchReplay(events: number, rounds: number, workers: number): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'er-bench-'));
  try {
    const file = join(dir, 'events.ndjson');
    const log = await generateLog(file, events);
    const ratesPath = join(dir, 'rates.json');
    writeFileSync(ratesPath, JSON.stringify(log.rates));
    const bare: Pass[] = [];
    const parallel: Pass[] = [];
    const single: Pass[] = [];
    // Interleave the passes so drift in machine load hits all alike; keep each one's best.
    for (let r = 0; r < rounds; r++) {
      bare.push(child(['bare', file]));
      parallel.push(child(['replay', file, join(dir, `out-${r}`), ratesPath, String(workers)]));
      single.push(child(['replay', file, join(dir, `out-${r}-single`), ratesPath, '0']));
    }
    const best = (passes: Pass[]) => passes.reduce((a, b) => (b.ms < a.ms ? b : a));
    const cpuBest = (passes: Pass[]) => Math.min(...passes.map((x) => x.cpuMs));
    const b = best(bare);
    const row = (name: string, passes: Pass[]) => {
      const p = best(passes);
      const peak = Math.max(...passes.map((x) => x.maxRssBytes));
      return [
        `  ${name}: ${fmt((p.lines / p.ms) * 1000)} events/s (${(p.ms / 1000).toFixed(2)} s wall, ${(cpuBest(passes) / 1000).toFixed(2)} s CPU in all threads), peak RSS ${mib(peak)}`,
        `      ratio to the bare pass: ${(p.ms / b.ms).toFixed(2)}x wall (target ≤ 4x), ${(cpuBest(passes) / cpuBest(bare)).toFixed(2)}x CPU`,
      ];
    };
    return [
      `replay bench: ${fmt(log.events)} events (${mib(log.bytes)}), best of ${rounds}, with all checks on (rates file); peak RSS target ≤ 600 MB at 1M; ${load()}`,
      `  bare readline + JSON.parse: ${fmt((b.lines / b.ms) * 1000)} lines/s (${(b.ms / 1000).toFixed(2)} s wall, ${(cpuBest(bare) / 1000).toFixed(2)} s CPU), peak RSS ${mib(b.maxRssBytes)}`,
      ...row(`replay, ${workers} worker${workers === 1 ? '' : 's'}`, parallel),
      ...row('replay, --workers 0', single),
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The volume detector's cost where it works hardest: three weeks of seasonal traffic, so every
 * hour of every series closes and is judged (the replay log above spans about an hour).
 */
async function benchVolume(rounds: number): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'er-bench-volume-'));
  try {
    const file = join(dir, 'events.ndjson');
    const log = await generateVolumeLog(file, { seed: 1, days: 21 });
    const ratesPath = join(dir, 'rates.json');
    // A rates file must hold a day (cli/replay refuses an empty one); the volume log's figures do not depend on which.
    writeFileSync(ratesPath, JSON.stringify(benchRates(1)));
    const on: Pass[] = [];
    const off: Pass[] = [];
    for (let r = 0; r < rounds; r++) {
      off.push(child(['replay-no-volume', file, join(dir, `off-${r}`), ratesPath]));
      on.push(child(['replay', file, join(dir, `on-${r}`), ratesPath]));
    }
    const best = (passes: Pass[]) => passes.reduce((a, b) => (b.ms < a.ms ? b : a));
    const a = best(on);
    const b = best(off);
    const alone = detectorAlone(file, rounds);
    return [
      `volume bench: ${fmt(log.events)} events over 21 days (every hour of every series judged), best of ${rounds}`,
      `  replay with the volume detector:    ${fmt((a.lines / a.ms) * 1000)} lines/s (${(a.ms / 1000).toFixed(2)} s)`,
      `  replay without the volume detector: ${fmt((b.lines / b.ms) * 1000)} lines/s (${(b.ms / 1000).toFixed(2)} s)`,
      `  volume detector cost: ${(((a.ms - b.ms) / b.ms) * 100).toFixed(1)} % of replay time (target < 10 %)`,
      `  the detector alone over the same events (count + close, best of ${rounds}): ${alone.ms.toFixed(0)} ms = ${((alone.ms / b.ms) * 100).toFixed(1)} % of the replay without it`,
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A long log that is never stored: generated into a FIFO that the replay child reads, so the
 * figures are the replay's alone (the generator runs in this process, on the other core).
 */
async function benchStreamed(events: number, days: number, workers: number): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'er-bench-'));
  try {
    const fifo = join(dir, 'events.fifo');
    execFileSync('mkfifo', [fifo]);
    const spacingMs = (days * 86_400_000) / events;
    const ratesPath = join(dir, 'rates.json');
    writeFileSync(ratesPath, JSON.stringify(benchRates(events, BENCH_START_MS, spacingMs)));
    const proc = spawn(process.execPath, [join(__dirname, 'child.js'), 'replay', fifo, join(dir, 'out'), ratesPath, String(workers)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    proc.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => proc.on('close', resolve));
    const log = await generateLog(fifo, events, 42, BENCH_START_MS, spacingMs);
    const code = await exited;
    if (code !== 0) throw new Error(`bench: streamed replay exited with ${code}`);
    const p = JSON.parse(stdout.trim().split('\n').pop()!) as Pass;
    return [
      `replay bench, streamed: ${fmt(log.events)} events over ${days} days of event time (${mib(log.bytes)}, generated into a FIFO, not stored)`,
      `  replay, ${workers} worker${workers === 1 ? '' : 's'}: ${fmt((p.lines / p.ms) * 1000)} events/s (${(p.ms / 1000).toFixed(1)} s wall, ${(p.cpuMs / 1000).toFixed(1)} s CPU), peak RSS ${mib(p.maxRssBytes)} (target ≤ 1 GiB at 10M events over 30 days); ${load()} at the end`,
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const USAGE = `Usage: npm run bench -- [options]

Replay throughput as a ratio to a bare readline + JSON.parse pass over the same generated log, in
the same run (wall and CPU), events/s and peak RSS, with worker threads and with --workers 0; the
volume detector's cost; Stripe/Twilio lookups against 20 ms stand-ins; gap-detector against the
Firestore emulator. Figures are printed, never asserted.

  --events N          one replay size (default: 500,000, then 1,000,000)
  --rounds N          rounds per size, best kept (default 3; sizes over 500,000 run once)
  --workers N         replay's worker threads (default: 1, 0 on one core)
  --month             also 10,000,000 events over 30 days of event time, streamed (about half an hour)
  --month-events N    the same with N events
  --month-days D      over D days (default 30): 4,000,000 over 12 keeps 10M/30 days' rate
  --no-lookups        skip the lookups bench
  --no-firestore      skip the gap-detector / Firestore bench
  -h, --help          this text
`;

async function main() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        events: { type: 'string' },
        rounds: { type: 'string', default: '3' },
        'no-firestore': { type: 'boolean', default: false },
        'no-lookups': { type: 'boolean', default: false },
        month: { type: 'boolean', default: false },
        'month-events': { type: 'string' },
        'month-days': { type: 'string', default: '30' },
        workers: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message} (try: npm run bench -- --help)\n`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const workers = values.workers === undefined ? defaultWorkers() : Number(values.workers);
  const monthEvents = values['month-events'] !== undefined ? Number(values['month-events']) : values.month ? 10_000_000 : undefined;
  const rounds = Number(values.rounds);
  const monthDays = Number(values['month-days']);
  const sizes = values.events ? [Number(values.events)] : [500_000, 1_000_000];
  if (sizes.some((n) => !Number.isInteger(n) || n < 1) || !Number.isInteger(rounds) || rounds < 1 || !Number.isInteger(workers) || workers < 0 || (monthEvents !== undefined && !(Number.isInteger(monthEvents) && monthEvents >= 1)) || !(monthDays > 0)) {
    process.stderr.write('bench: --events, --rounds and --month-events take positive whole numbers, --workers a whole number, --month-days a positive number\n');
    process.exit(2);
  }
  for (const n of sizes) {
    for (const line of await benchReplay(n, n > 500_000 ? 1 : rounds, workers)) process.stdout.write(`${line}\n`);
  }
  if (monthEvents !== undefined) {
    for (const line of await benchStreamed(monthEvents, monthDays, workers)) process.stdout.write(`${line}\n`);
  }
  for (const line of await benchVolume(rounds)) process.stdout.write(`${line}\n`);
  if (!values['no-lookups']) for (const line of await benchLookups()) process.stdout.write(`${line}\n`);
  if (!values['no-firestore']) {
    process.env.METADATA_SERVER_DETECTION ??= 'none';
    for (const line of await benchGapDetector()) process.stdout.write(`${line}\n`);
  }
}

void main();
