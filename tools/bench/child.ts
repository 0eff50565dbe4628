/**
 * One measured pass, in its own process so its peak RSS is its own:
 *   node dist/tools/bench/child.js bare FILE          readline + JSON.parse of every line
 *   node dist/tools/bench/child.js replay FILE OUT RATES   the embedded replay, as the CLI runs it
 *   node dist/tools/bench/child.js replay-no-volume FILE OUT RATES   the same without the volume detector
 * Prints one JSON line: {"lines", "ms", "maxRssBytes"}.
 */
import { createReadStream, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { RatesFile } from '../../shared/rates/file';
import { runReplay } from '../../cli/replay/run';

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

async function replay(file: string, out: string, ratesPath: string, volume: boolean): Promise<number> {
  const rates = RatesFile.parse(JSON.parse(readFileSync(ratesPath, 'utf8')));
  const summary = await runReplay({
    input: createReadStream(file, { highWaterMark: 1 << 20 }),
    outDir: out,
    now: Date.parse('2026-12-31T00:00:00Z'),
    rates,
    env: {},
    ...(volume ? {} : { volume: false as const }),
  });
  return summary.lines;
}

async function main() {
  const [mode, file, out, rates] = process.argv.slice(2);
  const replayMode = mode === 'replay' || mode === 'replay-no-volume';
  if (!file || (mode !== 'bare' && !replayMode) || (replayMode && (!out || !rates))) {
    process.stderr.write('usage: child.js bare FILE | child.js replay|replay-no-volume FILE OUT RATES\n');
    process.exit(2);
  }
  const start = process.hrtime.bigint();
  const lines = mode === 'bare' ? await bare(file) : await replay(file, out!, rates!, mode === 'replay');
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  process.stdout.write(`${JSON.stringify({ lines, ms, maxRssBytes: process.resourceUsage().maxRSS * 1024 })}\n`);
}

void main();
