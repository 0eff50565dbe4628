/**
 * `npm run bench`: measures the embedded replay against a bare readline + JSON.parse pass over
 * the same generated log, in the same run, each in its own process; prints events/s, the ratio
 * and peak RSS. Figures are printed, never asserted: these machines are shared and noisy.
 *
 *   npm run bench                      500,000 events, then 1,000,000 for the memory figure, then
 *                                      gap-detector against the Firestore emulator
 *   npm run bench -- --events 200000   one replay size only
 *   npm run bench -- --no-firestore    skip the gap-detector / Firestore part
 *
 * Each replay size is also run without the volume detector, and a three-week seasonal log with
 * and without it, so the detector's cost is a ratio taken in the same run.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { benchGapDetector } from './gap-detector';
import { generateLog } from './generate';
import { generateVolumeLog } from './volume-log';
import { detectorAlone } from './volume-alone';

interface Pass {
  lines: number;
  ms: number;
  maxRssBytes: number;
}

function child(args: string[]): Pass {
  const out = execFileSync(process.execPath, [join(__dirname, 'child.js'), ...args], { encoding: 'utf8', maxBuffer: 1 << 20 });
  return JSON.parse(out.trim().split('\n').pop()!) as Pass;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const mib = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MiB`;

async function benchReplay(events: number, rounds: number): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'er-bench-'));
  try {
    const file = join(dir, 'events.ndjson');
    const log = await generateLog(file, events);
    const ratesPath = join(dir, 'rates.json');
    writeFileSync(ratesPath, JSON.stringify(log.rates));
    const bare: Pass[] = [];
    const replay: Pass[] = [];
    const noVolume: Pass[] = [];
    // Interleave the two so drift in machine load hits both alike; keep each one's best.
    for (let r = 0; r < rounds; r++) {
      bare.push(child(['bare', file]));
      replay.push(child(['replay', file, join(dir, `out-${r}`), ratesPath]));
      noVolume.push(child(['replay-no-volume', file, join(dir, `out-nv-${r}`), ratesPath]));
    }
    const best = (passes: Pass[]) => passes.reduce((a, b) => (b.ms < a.ms ? b : a));
    const b = best(bare);
    const p = best(replay);
    const nv = best(noVolume);
    const peak = Math.max(...replay.map((x) => x.maxRssBytes));
    return [
      `replay bench: ${fmt(log.events)} events (${mib(log.bytes)}), best of ${rounds}`,
      `  bare readline + JSON.parse: ${fmt((b.lines / b.ms) * 1000)} lines/s (${(b.ms / 1000).toFixed(2)} s, peak RSS ${mib(b.maxRssBytes)})`,
      `  event-recovery replay:      ${fmt((p.lines / p.ms) * 1000)} lines/s (${(p.ms / 1000).toFixed(2)} s, peak RSS ${mib(peak)})`,
      `  replay without volume:      ${fmt((nv.lines / nv.ms) * 1000)} lines/s (${(nv.ms / 1000).toFixed(2)} s)`,
      `  ratio replay / bare: ${(p.ms / b.ms).toFixed(2)}x (target within 3x); peak RSS ${mib(peak)} (target < 1 GiB at 1M events)`,
      `  volume detector cost: ${(((p.ms - nv.ms) / nv.ms) * 100).toFixed(1)} % of replay time (target < 10 %)`,
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
    writeFileSync(ratesPath, JSON.stringify({ base: 'USD', days: {} }));
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

async function main() {
  const { values } = parseArgs({
    options: {
      events: { type: 'string' },
      rounds: { type: 'string', default: '3' },
      'no-firestore': { type: 'boolean', default: false },
    },
  });
  const rounds = Number(values.rounds);
  const sizes = values.events ? [Number(values.events)] : [500_000, 1_000_000];
  if (sizes.some((n) => !Number.isInteger(n) || n < 1) || !Number.isInteger(rounds) || rounds < 1) {
    process.stderr.write('bench: --events and --rounds take positive whole numbers\n');
    process.exit(2);
  }
  for (const n of sizes) {
    for (const line of await benchReplay(n, n > 500_000 ? 1 : rounds)) process.stdout.write(`${line}\n`);
  }
  for (const line of await benchVolume(rounds)) process.stdout.write(`${line}\n`);
  if (!values['no-firestore']) {
    process.env.METADATA_SERVER_DETECTION ??= 'none';
    for (const line of await benchGapDetector()) process.stdout.write(`${line}\n`);
  }
}

void main();
