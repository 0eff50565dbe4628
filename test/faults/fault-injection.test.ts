import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Comparison } from '../../tools/local/expected';
import type { InjectedFault } from '../../cli/generate/demo';
import { uniqueDoubles } from '../../tools/load/compare';
import { ensureBuilt } from '../support/build';

/**
 * The fault-injection suite (issue 13): the local stack (real emulators, every function in its own
 * Functions Framework process, the demo stream with its injected faults) runs with FAULT_INJECT
 * (shared/fault-inject) set so that, while the stream flows, each function's process is killed
 * (SIGKILL) at each effect boundary it has, one instance after the other: after the state write
 * and before the publish; after the publish and before the ack; in the middle of a batch of
 * publishes. The stack starts a new instance each time (tools/local/functions), the push gateway
 * redelivers what the dead one held, the pipeline drains (with the scheduler's tick once what a
 * dead gap-detector left in its outbox is due), and then:
 * - nothing lost: every valid, first-arriving event is on events-unique, every finding the
 *   injected faults call for exists (and nothing else), one correction per corrected event;
 * - nothing doubled: no event accepted twice (two deliveries of it on events-unique), no finding
 *   or correction under a second id. A message published again by the redelivery of a message
 *   whose instance died after publishing it and before its ack carries the same id (Pub/Sub
 *   publishing is at least once; consumers key on the id): those are counted and printed.
 * `npm run test:faults` (about 3 minutes here; `npm test` runs it last, alone).
 */
const ROOT = join(__dirname, '..', '..');

interface RunJson {
  exitCode: number;
  published: number;
  counts: Record<string, number>;
  comparison: Comparison;
  faults: InjectedFault[];
  unfinished?: string[];
  functions: Array<{ name: string; served: boolean; deaths?: Array<{ cause: string; restarted: boolean; lastLines: string[] }> }>;
  ids: Record<string, string[]>;
}

/**
 * Where each instance dies: `function#instance: boundary: pass`. The demo stream (293 messages)
 * takes each instance past its pass mid-stream; the checkers and gap-detector publish far less
 * often than they read, hence their early passes (a checker's redelivered decision is published
 * again by the next instance, which is its next batch). The deduplicator validates every event
 * first: its publishes include the invalid events' routes. Four deaths of one function, no more:
 * a fifth within a minute would be a crash loop, which the local stack does not restart.
 */
const CRASHES: ReadonlyArray<readonly [fn: string, boundary: string, pass: number]> = [
  ['deduplicator', 'after-state-write', 40],
  ['deduplicator', 'after-publish', 40],
  ['deduplicator', 'mid-batch', 10],
  // The Bigtable store (the stack's default) claims an event's keys one by one: killed after the 20th key claimed pending.
  ['deduplicator', 'mid-claim', 20],
  ['gap-detector', 'after-state-write', 2],
  ['gap-detector', 'after-publish', 1],
  ['gap-detector', 'mid-batch', 1],
  ['revenue-checker', 'after-state-write', 5],
  ['revenue-checker', 'after-publish', 1],
  ['revenue-checker', 'mid-batch', 1],
  // Its first batch is the one corrected call of the demo (a correction and a finding); the next
  // instance dies publishing that decision again; the one after, on a later call's decision.
  ['call-duration-checker', 'mid-batch', 1],
  ['call-duration-checker', 'after-publish', 1],
  ['call-duration-checker', 'after-state-write', 3],
];

function faultInject(): string {
  const instance = new Map<string, number>();
  return CRASHES.map(([fn, boundary, pass]) => {
    const n = (instance.get(fn) ?? 0) + 1;
    instance.set(fn, n);
    return `${fn}#${n}:${boundary}:${pass}`;
  }).join(',');
}

function runStack(jsonPath: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'dist', 'tools', 'local', 'cli.js'), '--json', jsonPath, '--timeout', '480'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Broken chains republished too: a gap-detector finding then comes with a second publish (a batch).
      env: { ...process.env, PUBSUB_EMULATOR_HOST: '', FIRESTORE_EMULATOR_HOST: '', FAULT_INJECT: faultInject(), RETRIGGER_BROKEN_CHAINS: 'true' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const tally = (values: readonly string[]) => {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return counts;
};

describe('fault injection: every function process killed at each of its effect boundaries while the demo stream flows', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fault-injection-'));

  beforeAll(() => ensureBuilt(), 120_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** The run's own account, for a failure message. */
  const account = (run: RunJson) =>
    JSON.stringify({ unfinished: run.unfinished, counts: run.counts, deaths: run.functions.map((f) => [f.name, (f.deaths ?? []).map((d) => d.lastLines.at(-1))]) }, null, 1);

  it('each death restarts the function; nothing is lost, nothing doubled', async () => {
    const jsonPath = join(dir, 'run.json');
    const { code, stdout, stderr } = await runStack(jsonPath);
    const context = `\nstdout:\n${stdout}\nstderr:\n${stderr}`;
    let run: RunJson;
    try {
      run = JSON.parse(readFileSync(jsonPath, 'utf8')) as RunJson;
    } catch {
      throw new Error(`no run JSON (exit ${code})${context}`);
    }

    // Every crash point was reached: each instance's own last line names it; each was restarted.
    const exercised = run.functions.flatMap((f) =>
      (f.deaths ?? []).map((d) => {
        expect(d).toMatchObject({ cause: 'killed by SIGKILL', restarted: true });
        const m = /^FAULT_INJECT: killing this process at pass (\d+) of ([a-z-]+)$/.exec(d.lastLines.at(-1) ?? '');
        return m ? `${f.name} ${m[2]} ${m[1]}` : `${f.name} died otherwise: ${d.lastLines.at(-1)}`;
      }),
    );
    expect({ exercised: exercised.sort(), account: '' }).toEqual({
      exercised: CRASHES.map(([fn, boundary, pass]) => `${fn} ${boundary} ${pass}`).sort(),
      account: exercised.length === CRASHES.length ? '' : account(run),
    });
    expect(stderr).toMatch(/instance \d+ died \(killed by SIGKILL\)/);

    // Nothing lost: the pipeline drained, every expected finding exists and nothing else does.
    expect(run.unfinished).toBeUndefined();
    const missed = run.comparison.injectors.flatMap((o) => o.missed.map((m) => `${o.injector}: ${m.detail}`));
    expect({ missed, unexpected: run.comparison.unexpected, account: '' }).toEqual({
      missed: [],
      unexpected: [],
      account: missed.length + run.comparison.unexpected.length === 0 ? '' : `${account(run)}\nfindings: ${JSON.stringify(run.ids.findings)}${context}`,
    });
    expect(run.comparison.ok).toBe(true);
    expect(code).toBe(0);

    // Every valid first arrival reached events-unique, and none was accepted twice.
    const expectedCount = (kind: string) => run.faults.flatMap((f) => f.expect).filter((e) => e.match.kind === kind).length;
    const unique = run.ids['events-unique']!;
    const events = tally(unique.map((entry) => entry.split(' ')[0]!));
    expect(events.size).toBe(run.published - expectedCount('invalid') - expectedCount('duplicate'));
    // The same event twice is a double only when two deliveries were accepted; the same delivery
    // published again by its redelivery after a crash before its ack is the same message (one
    // definition with the load run's: tools/load/compare.ts).
    const doubles = uniqueDoubles(
      unique.map((entry) => {
        const [eventId, ingestId] = entry.split(' ') as [string, string];
        return { eventId, ingestId };
      }),
    );
    expect(doubles.doubled).toEqual([]);

    // Findings and corrections: one id each (the comparison above matched each expected one once).
    const corrected = new Set(run.faults.flatMap((f) => f.expect).filter((e) => e.match.action === 'corrected').map((e) => e.match.event_id));
    const corrections = tally(run.ids['events-corrected']!);
    expect(corrections.size).toBe(corrected.size);
    const findings = tally(run.ids.findings!);
    expect(findings.has('')).toBe(false);

    const again = (t: Map<string, number>) => [...t.values()].reduce((n, c) => n + c - 1, 0);
    process.stdout.write(
      `\nfault injection: ${exercised.length} crash points exercised; events lost 0, doubled 0 (${events.size} on events-unique, ` +
        `${findings.size} findings, ${corrections.size} corrections); published again under the same id by a redelivery: ` +
        `${doubles.publishedAgain} events, ${again(findings)} findings, ${again(corrections)} corrections\n`,
    );
  }, 600_000);
});
