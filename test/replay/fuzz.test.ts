import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fuzzChunks, probeChunks, type FuzzPlan } from '../../tools/fuzz/hostile';

/**
 * The fuzz suite through the built replay command: hostile lines (tools/fuzz/hostile.ts),
 * deterministic per seed. FUZZ_LINES sets the size: 20,000 in `npm test` (seconds: the minutes
 * it used to take were the volume detector judging every empty hour since a year-0000 event);
 * `npm run fuzz` runs 100,000 (by hand; see the README).
 */
const CLI = resolve(__dirname, '../../dist/cli/event-recovery.js');
const LINES = Number(process.env.FUZZ_LINES ?? 20_000);
const SEED = Number(process.env.FUZZ_SEED ?? 13);
const PLAN: FuzzPlan = { lines: LINES, probeEvery: 97, oversized: Math.max(3, Math.round(LINES / 10_000)) };
/** A heap limit the replay must live within, whatever the input (it streams). */
const HEAP_MB = 256;

async function writeChunks(path: string, chunks: Iterable<Buffer>): Promise<void> {
  const out = createWriteStream(path);
  for (const c of chunks) if (!out.write(c)) await once(out, 'drain');
  out.end();
  await once(out, 'finish');
}

/** Runs the replay command; its peak memory (kB) is read from a preload that reports on exit. */
async function replay(input: string, out: string): Promise<{ code: number | null; stderr: string; maxRssKb: number }> {
  const rssFile = `${out}.rss`;
  const preload = join(tmpdir(), `fuzz-rss-${process.pid}.js`);
  writeFileSync(preload, `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(rssFile)}, String(process.resourceUsage().maxRSS)));\n`);
  const child = spawn(process.execPath, [`--max-old-space-size=${HEAP_MB}`, '--require', preload, CLI, 'replay', input, '--out', out, '--now', '2026-03-01T12:00:00Z', '--quiet'], {
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stderr, maxRssKb: existsSync(rssFile) ? Number(readFileSync(rssFile, 'utf8')) : Number.NaN };
}

function ndjson(path: string): Array<Record<string, unknown>> {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** What the replay decided about each probe, leaving out what depends on the watermark (chains, gaps). */
function probeJudgements(dir: string): Map<string, unknown[]> {
  const byProbe = new Map<string, unknown[]>();
  for (const e of ndjson(join(dir, 'events.ndjson'))) {
    if (typeof e.id === 'string' && e.id.startsWith('probe-')) byProbe.set(e.id, ['accepted']);
  }
  for (const f of ndjson(join(dir, 'findings.ndjson'))) {
    if (typeof f.event_id !== 'string' || !f.event_id.startsWith('probe-')) continue;
    if (f.kind === 'chain_broken' || f.kind === 'gap' || f.kind === 'late') continue;
    const { line: _line, ...rest } = f;
    byProbe.set(f.event_id, [...(byProbe.get(f.event_id) ?? []), rest]);
  }
  return byProbe;
}

describe(`fuzz: ${LINES.toLocaleString('en-US')} hostile lines through the replay (seed ${SEED})`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'fuzz-'));
  const input = join(dir, 'hostile.ndjson');
  const probes: number[] = [];
  let run: Awaited<ReturnType<typeof replay>>;

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build (npm ci does it)`);
    await writeChunks(input, fuzzChunks(SEED, PLAN, probes));
    run = await replay(input, join(dir, 'out'));
  }, 600_000);

  it('exits 0 with nothing on stderr but warnings about the input (no error, no stack trace), within a bounded heap', () => {
    expect(run.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('replay: warning: '))).toEqual([]);
    expect(run.code).toBe(0);
    // The heap is capped (--max-old-space-size); resident memory stays near it, not near the input.
    expect(run.maxRssKb).toBeLessThan((HEAP_MB + 256) * 1024);
  });

  it('accounts for every line: lines = accepted + invalid + duplicates, one finding per dropped line', () => {
    const out = join(dir, 'out');
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as Record<string, number>;
    const findings = ndjson(join(out, 'findings.ndjson'));
    expect(summary.lines).toBe(LINES);
    expect(summary.accepted! + summary.invalid! + summary.duplicates!).toBe(LINES);
    const invalid = findings.filter((f) => f.kind === 'invalid');
    const duplicates = findings.filter((f) => f.kind === 'duplicate');
    expect(invalid).toHaveLength(summary.invalid!);
    expect(duplicates).toHaveLength(summary.duplicates!);
    const dropped = new Set([...invalid, ...duplicates].map((f) => f.line));
    expect(dropped.size).toBe(summary.invalid! + summary.duplicates!);
    expect([...dropped].filter((n) => !(Number.isInteger(n) && (n as number) >= 1 && (n as number) <= LINES))).toEqual([]);
    // The lines that were not dropped are the accepted events, in events.ndjson before any correction.
    expect(ndjson(join(out, 'events.ndjson'))).toHaveLength(summary.accepted! + summary.corrections!);
    expect(probes.filter((n) => dropped.has(n))).toEqual([]);
  });

  it('gives every invalid line a reason', () => {
    const findings = ndjson(join(dir, 'out', 'findings.ndjson'));
    const unexplained = findings.filter((f) => f.kind === 'invalid' && (typeof f.reason !== 'string' || f.reason.trim() === ''));
    expect(unexplained).toEqual([]);
    // Nothing printed as a number it is not: no NaN, Infinity or null where a count or sequence goes.
    const summaryText = readFileSync(join(dir, 'out', 'summary.json'), 'utf8');
    expect(summaryText).not.toMatch(/NaN|Infinity|e\+/);
    expect(findings.filter((f) => f.kind === 'gap' && !(Number.isSafeInteger(f.from_sequence) && Number.isSafeInteger(f.to_sequence)))).toEqual([]);
  });

  it('judges every valid probe exactly as it does without the hostile lines around it', async () => {
    const clean = join(dir, 'probes.ndjson');
    await writeChunks(clean, probeChunks(PLAN));
    const alone = await replay(clean, join(dir, 'probes-out'));
    expect(alone.code).toBe(0);
    const withHostile = probeJudgements(join(dir, 'out'));
    const without = probeJudgements(join(dir, 'probes-out'));
    expect(without.size).toBe(probes.length);
    expect(Object.fromEntries(withHostile)).toEqual(Object.fromEntries(without));
  }, 600_000);
});
