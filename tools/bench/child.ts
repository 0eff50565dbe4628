/**
 * One measured pass, in its own process so its peak RSS is its own:
 *   node dist/tools/bench/child.js bare FILE          readline + JSON.parse of every line
 *   node dist/tools/bench/child.js replay FILE OUT RATES [WORKERS]   the embedded replay, as the CLI
 *                                                      runs it (WORKERS: default 1, 0 on one core; 0 = single-threaded)
 *   node dist/tools/bench/child.js replay-no-volume FILE OUT RATES [WORKERS]   the same without the volume detector
 * Prints one JSON line: {"lines", "ms", "cpuMs", "maxRssBytes"}. FILE may be a FIFO (a streamed log).
 */
import { createReadStream, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { RatesFile } from '../../shared/rates/file';
import { runReplay } from '../../cli/replay/run';
import { defaultWorkers } from '../../cli/replay/pool';

async function bare(file: string): Promise<number> {
  let lines = 0;
  const rl = createInterface({ input: createReadStream(file, { highWaterMark: 1 << 20 }), crlfDelay: Infinity });
  for await (const line of rl) {
    try {
      JSON.parse(line);
    } catch {
      /* invalid lines are part of the log */
    }
    lines++;
  }
  return lines;
}

async function replay(file: string, out: string, ratesPath: string, volume: boolean, workers: number): Promise<number> {
  const rates = RatesFile.parse(JSON.parse(readFileSync(ratesPath, 'utf8')));
  const summary = await runReplay({
    input: createReadStream(file, { highWaterMark: 1 << 20 }),
    outDir: out,
    now: Date.parse('2026-12-31T00:00:00Z'),
    rates,
    env: {},
    ...(volume ? {} : { volume: false as const }),
    workers,
  });
  return summary.lines;
}

async function main() {
  const [mode, file, out, rates, workers] = process.argv.slice(2);
  const replayMode = mode === 'replay' || mode === 'replay-no-volume';
  if (!file || (mode !== 'bare' && !replayMode) || (replayMode && (!out || !rates))) {
    process.stderr.write('usage: child.js bare FILE | child.js replay|replay-no-volume FILE OUT RATES [WORKERS]\n');
    process.exit(2);
  }
  const start = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  const lines = mode === 'bare' ? await bare(file) : await replay(file, out!, rates!, mode === 'replay', workers === undefined ? defaultWorkers() : Number(workers));
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const used = process.cpuUsage(cpu);
  const cpuMs = (used.user + used.system) / 1000;
  process.stdout.write(`${JSON.stringify({ lines, ms, cpuMs, maxRssBytes: process.resourceUsage().maxRSS * 1024 })}\n`);
}

void main();
