#!/usr/bin/env node
/**
 * `npm run load`: a sustained stream through the running local stack (DESIGN §6b, issue 19).
 *
 *   npm run load -- --events N --rate R [--seed S] [--kill FUNCTION@SECONDS] [--json FILE]
 *   npm run load -- --log FILE --rate R ...     a log of your own, with FILE's .rates.json beside it
 *
 * Generates a log (cli/generate/log.ts), brings the local stack up with stand-ins that know the
 * log's calls, payments and rates, publishes the log to events-raw at the rate (killing one
 * function once, with SIGKILL, that many seconds in), waits until every function has
 * acknowledged everything and the pipeline is quiet, replays the same log with the same
 * stand-ins, and says: published; delivered to events-unique (lost; doubled: accepted from two
 * different deliveries, as the fault-injection suite counts it; published again by a redelivery);
 * messages dead-lettered, and how many of them their subscription's function had in fact
 * acknowledged (false dead letters); findings published and distinct by finding id, and whether
 * they are replay's (by kind and event); latencies publish -> events-unique and -> finding; CPU
 * seconds, Firestore operations and Bigtable rows per event per function (tools/cost/meter.ts in every function).
 * Exit 0 when nothing was lost, doubled or falsely dead-lettered and the findings are replay's.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { generateLog } from '../../cli/generate/log';
import { publishLog } from '../../cli/commands/publish';
import { producerTopic, publishPayload } from '../../shared/adapters/pubsub-producer';
import { systemClock } from '../../shared/ports';
import { RatesFile } from '../../shared/rates/file';
import { TOPICS, topology } from '../../shared/topology';
import { DEFAULT_OPTIONS, startStack, type StartedStack } from '../local/stack';
import { Progress, TimeoutError, waitUntil } from '../local/progress';
import { onSignal } from '../local/processes';
import { afterMeterWrite, readMeters, type MeterFile } from '../cost/counts';
import { worldOfLog } from '../../cli/generate/log-world';
import { compareFindings, percentile, tally, uniqueDoubles, type FindingLike } from './compare';
import { INGEST_ID } from '../../shared/attributes';

const CLI = join(__dirname, '..', '..', 'cli', 'event-recovery.js');

export interface LoadOptions {
  readonly events: number;
  readonly rate: number;
  readonly seed: number;
  /** A log of the caller's instead of a generated one; its rates at `<log without .ndjson>.rates.json`. */
  readonly log?: string;
  /** Kill this function's instance (SIGKILL) this many seconds after publishing starts. */
  readonly kill?: { readonly fn: string; readonly atSeconds: number };
  /** How long nothing may move before the pipeline counts as quiet. */
  readonly quietMs: number;
  readonly timeoutMs: number;
  readonly progress: (line: string) => void;
}

/** Per function, per event published: what issue 21's cost and scale model extends. */
export interface FunctionLoad {
  readonly invocations: number;
  readonly cpu_seconds: number;
  readonly cpu_seconds_per_event: number;
  readonly request_seconds_per_event: number;
  readonly firestore_per_event: { readonly reads: number; readonly writes: number; readonly deletes: number };
  /** Rows Bigtable read (lookups that found none included), wrote and deleted for it (0 on the Firestore state store). */
  readonly bigtable_per_event: { readonly reads: number; readonly writes: number; readonly deletes: number };
}

export interface LoadResult {
  readonly events: number;
  readonly rate: number;
  readonly achieved_rate: number;
  readonly kill: string | null;
  readonly published: number;
  readonly expected_unique: number;
  readonly delivered_unique: number;
  readonly lost: number;
  /** Events accepted from two different deliveries (ingest ids): a duplicate let through (tools/load/compare.ts). */
  readonly doubled: number;
  /** Copies of one accepted delivery published again by its redelivery: at-least-once publishing, not a double. */
  readonly published_again: number;
  readonly dead_lettered: number;
  readonly false_dead_letters: number;
  readonly dead_lettered_by_subscription: Record<string, number>;
  readonly findings_published: number;
  readonly findings_distinct: number;
  readonly max_finding_repeats: number;
  readonly equal_to_replay: boolean;
  readonly replay_differences: string[];
  readonly p50_ms_unique: number | null;
  readonly p99_ms_unique: number | null;
  readonly p50_ms_finding: number | null;
  readonly p99_ms_finding: number | null;
  readonly per_function: Record<string, FunctionLoad>;
  readonly seconds: { readonly publish: number; readonly drain: number; readonly total: number };
  /** The machine's 1-minute load average at the end: the figures depend on what else runs. */
  readonly load_average: number;
  readonly deaths: Record<string, number>;
  /** What was still outstanding when the run timed out (empty when it drained). */
  readonly unfinished?: string[];
}

/** The digest a dead-lettered copy can be matched by: its data and the producer's attributes (Pub/Sub's own left out). */
export function messageDigest(data: Buffer, attributes: Readonly<Record<string, string>>): string {
  const own = Object.entries(attributes)
    .filter(([k]) => !k.startsWith('CloudPubSubDeadLetter'))
    .sort(([a], [b]) => (a < b ? -1 : 1));
  return createHash('sha256').update(data).update('\u0000').update(JSON.stringify(own)).digest('base64url');
}

const eventIdOf = (line: string): string | undefined => {
  try {
    const id = (JSON.parse(line) as { id?: unknown }).id;
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
};

async function* linesOf(text: string): AsyncGenerator<string> {
  for (const line of text.split('\n')) yield line;
}

/** Runs replay (the built CLI, as a user would) over the log with the stand-ins' environment. */
async function replay(log: string, rates: string, out: string, env: Readonly<Record<string, string>>): Promise<{ findings: FindingLike[]; accepted: string[] }> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete childEnv.EVENT_RECOVERY_METER_DIR;
  delete childEnv.NODE_OPTIONS;
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'replay', log, '--rates', rates, '--out', out], { env: childEnv, stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (c) => resolve(c ?? 1));
  });
  if (code !== 0) throw new Error(`replay of ${log} exited ${code}`);
  const ndjson = (file: string) =>
    readFileSync(join(out, file), 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const accepted = ndjson('events.ndjson')
    .filter((e) => e.correctionof === undefined)
    .map((e) => String(e.id));
  return { findings: ndjson('findings.ndjson'), accepted };
}

/** The load run: see the file's comment. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'er-load-'));
  const meterDir = join(dir, 'meters');
  let stack: StartedStack | undefined;
  onSignal(async () => {
    await stack?.close();
    return 130;
  });
  try {
    // The log and its rates.
    let logPath = options.log;
    const ratesPath = logPath ? `${logPath.replace(/\.ndjson$/, '')}.rates.json` : join(dir, 'log.rates.json');
    if (!logPath) {
      logPath = join(dir, 'log.ndjson');
      const generated = await generateLog(logPath, options.events, options.seed);
      writeFileSync(ratesPath, `${JSON.stringify(generated.rates)}\n`);
    } else if (!existsSync(ratesPath)) {
      throw new Error(`load: ${ratesPath} (the log's exchange rates) is missing: event-recovery generate --out writes it beside the log`);
    }
    const text = readFileSync(logPath, 'utf8');
    const lines = text.split('\n').filter((l) => l.trim() !== '');
    const rates = RatesFile.parse(JSON.parse(readFileSync(ratesPath, 'utf8')));
    const world = worldOfLog(lines, rates);

    // The stack, every function counting its CPU and Firestore operations (tools/cost/meter.ts).
    mkdirSync(meterDir);
    process.env.EVENT_RECOVERY_METER_DIR = meterDir;
    process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --require ${join(__dirname, '..', 'cost', 'meter.js')}`.trim();
    options.progress(`load: ${lines.length} events at ${options.rate}/s (${(lines.length / options.rate).toFixed(0)} s); starting the local stack...`);
    stack = await startStack({ ...DEFAULT_OPTIONS, timeoutMs: options.timeoutMs }, world, { progress: options.progress, report: () => undefined });
    const { up } = stack;
    await afterMeterWrite(); // a baseline after start-up
    const baseline = new Map(readMeters(meterDir).map((m) => [m.pid, m.cpuUs]));

    // What each subscription's function acknowledged, by the digest a dead-lettered copy keeps.
    const tracker = new Progress(up.observer, up.pushes);
    const deadline = Date.now() + options.timeoutMs;
    const functions = stack.functions;
    const watch = () => {
      for (const f of functions) if (f.failure) throw f.failure;
    };

    // Publish at the rate; kill once.
    const publishedAt = new Map<string, number>();
    const raw = producerTopic(up.pubsub, TOPICS.raw);
    const t0 = Date.now();
    let killTimer: NodeJS.Timeout | undefined;
    if (options.kill) {
      const target = up.served.get(options.kill.fn);
      if (!target) throw new Error(`load: --kill ${options.kill.fn}: no such function is served (${[...up.served.keys()].join(', ')})`);
      killTimer = setTimeout(() => {
        options.progress(`load: killing ${target.name} (pid ${target.process.pid}) ${options.kill!.atSeconds} s in`);
        try {
          process.kill(target.process.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }, options.kill.atSeconds * 1000);
    }
    const result = await publishLog(
      linesOf(text),
      async (line) => {
        const id = eventIdOf(line);
        const at = Date.now();
        if (id !== undefined && !publishedAt.has(id)) publishedAt.set(id, at);
        tracker.published(await publishPayload(raw, line), 0);
      },
      { fromLine: 1, rate: options.rate, maxInFlight: 1000, clock: systemClock, onProgress: (p) => options.progress(`  published ${p.published} (${p.perSecond}/s)`) },
    );
    if (killTimer) clearTimeout(killTimer);
    if (result.failure) throw new Error(`load: publishing failed at line ${result.failure.resumeFrom}: ${result.failure.error.message}`);
    const t1 = Date.now();
    options.progress(`load: published ${result.published} in ${((t1 - t0) / 1000).toFixed(1)} s; waiting for every function to finish and the pipeline to go quiet...`);
    let unfinished: string[] | undefined;
    let lastLook = 0;
    const look = () => {
      lastLook = Date.now();
      return tracker.caughtUp() && Date.now() - tracker.lastActivity() >= options.quietMs;
    };
    try {
      // Polled once a second, not every 25 ms (waitUntil): over tens of thousands of messages each
      // look at the tracker costs the event loop the gateway pushes from.
      await waitUntil(() => Date.now() - lastLook >= 1000 && look(), deadline, watch);
    } catch (err) {
      if (!(err instanceof TimeoutError)) throw err;
      // Measured as it stands: what never arrived counts as lost.
      unfinished = tracker.outstanding(functions);
      options.progress(`load: timed out after ${options.timeoutMs / 1000} s; still outstanding:\n  ${unfinished.join('\n  ')}`);
    }
    const t2 = Date.now();
    await afterMeterWrite();
    const meters = readMeters(meterDir);

    // Replay of the same log, with the same stand-ins.
    options.progress('load: replaying the same log...');
    const replayed = await replay(logPath, ratesPath, join(dir, 'replay'), stack.standInEnv);

    return { ...measure(stack, options, meters, baseline, publishedAt, replayed, result.published, { t0, t1, t2 }), unfinished: unfinished ?? [] };
  } finally {
    await stack?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function measure(
  stack: StartedStack,
  options: LoadOptions,
  meters: readonly MeterFile[],
  baseline: ReadonlyMap<number, number>,
  publishedAt: ReadonlyMap<string, number>,
  replayed: { findings: FindingLike[]; accepted: string[] },
  published: number,
  t: { t0: number; t1: number; t2: number },
): LoadResult {
  const { up } = stack;
  const observer = up.observer;
  // events-unique, by event id.
  const unique = observer.messages(TOPICS.unique);
  const uniqueIds = tally(unique.map((m) => m.attributes.id ?? ''));
  const expected = new Set(replayed.accepted);
  const lost = [...expected].filter((id) => !uniqueIds.has(id)).length;
  // A copy without an ingest id counts as a delivery of its own (its message id): never hidden.
  const doubles = uniqueDoubles(unique.map((m) => ({ eventId: m.attributes.id ?? '', ingestId: m.attributes[INGEST_ID] ?? m.id })));
  const firstUnique = new Map<string, number>();
  for (const m of unique) if (!firstUnique.has(m.attributes.id ?? '')) firstUnique.set(m.attributes.id ?? '', m.receivedAt);
  const uniqueLatency = [...firstUnique].flatMap(([id, at]) => (publishedAt.has(id) ? [at - publishedAt.get(id)!] : []));

  // Dead letters, and which of them the subscription's function had acknowledged.
  const deadLetters = observer.messages(TOPICS.deadLetters);
  const acked = new Map<string, Set<string>>();
  for (const p of up.pushes) {
    const digests = new Set<string>();
    const byId = new Map(observer.messages(p.sub.topic).map((m) => [m.id, m]));
    for (const id of p.gateway.stats(p.sub.name).acked) {
      const m = byId.get(id);
      if (m) digests.add(messageDigest(m.data, m.attributes));
    }
    acked.set(p.sub.name, digests);
  }
  let falseDeadLetters = 0;
  const bySubscription: Record<string, number> = {};
  for (const m of deadLetters) {
    const sub = m.attributes.CloudPubSubDeadLetterSourceSubscription ?? '?';
    bySubscription[sub] = (bySubscription[sub] ?? 0) + 1;
    if (acked.get(sub)?.has(messageDigest(m.data, m.attributes))) falseDeadLetters++;
  }

  // Findings: published, distinct by id, compared with replay's.
  const findingMessages = observer.messages(TOPICS.findings);
  const byFindingId = tally(findingMessages.map((m) => m.attributes.finding_id ?? m.id));
  const distinct = new Map<string, { finding: FindingLike; at: number }>();
  for (const m of findingMessages) {
    const id = m.attributes.finding_id ?? m.id;
    if (distinct.has(id)) continue;
    try {
      distinct.set(id, { finding: JSON.parse(m.data.toString('utf8')) as FindingLike, at: m.receivedAt });
    } catch {
      distinct.set(id, { finding: { kind: 'unreadable' }, at: m.receivedAt });
    }
  }
  const comparison = compareFindings(
    [...distinct.values()].map((d) => d.finding),
    replayed.findings,
  );
  const findingLatency = [...distinct.values()].flatMap(({ finding, at }) => {
    const sent = typeof finding.event_id === 'string' ? publishedAt.get(finding.event_id) : undefined;
    return sent === undefined ? [] : [at - sent];
  });

  // Per function, per event published.
  const perFunction: Record<string, FunctionLoad> = {};
  const events = Math.max(1, published);
  for (const fn of topology.functions) {
    if (!up.served.has(fn.name)) continue;
    const files = meters.filter((m) => m.function === fn.name);
    const cpuUs = files.reduce((n, m) => n + m.cpuUs - (baseline.get(m.pid) ?? 0), 0);
    const pushes = up.pushes.filter((p) => p.sub.function === fn.name).flatMap((p) => p.gateway.stats(p.sub.name).pushes);
    const fs = files.reduce(
      (acc, m) => ({ reads: acc.reads + m.firestore.reads + m.firestore.missingReads + m.firestore.emptyQueries, writes: acc.writes + m.firestore.writes, deletes: acc.deletes + m.firestore.deletes }),
      { reads: 0, writes: 0, deletes: 0 },
    );
    const bt = files.reduce(
      (acc, m) => ({ reads: acc.reads + m.bigtable.rowsRead + m.bigtable.emptyReads, writes: acc.writes + m.bigtable.rowsWritten, deletes: acc.deletes + m.bigtable.rowsDeleted }),
      { reads: 0, writes: 0, deletes: 0 },
    );
    const round = (x: number) => Math.round(x * 1e6) / 1e6;
    perFunction[fn.name] = {
      invocations: pushes.length,
      cpu_seconds: round(cpuUs / 1e6),
      cpu_seconds_per_event: round(cpuUs / 1e6 / events),
      request_seconds_per_event: round(pushes.reduce((n, p) => n + p.ms, 0) / 1000 / events),
      firestore_per_event: { reads: round(fs.reads / events), writes: round(fs.writes / events), deletes: round(fs.deletes / events) },
      bigtable_per_event: { reads: round(bt.reads / events), writes: round(bt.writes / events), deletes: round(bt.deletes / events) },
    };
  }
  const ms = (x: number | undefined) => (x === undefined ? null : Math.round(x));
  return {
    events: published,
    rate: options.rate,
    achieved_rate: Math.round((published * 10_000) / Math.max(1, t.t1 - t.t0)) / 10,
    kill: options.kill ? `${options.kill.fn}@${options.kill.atSeconds}` : null,
    published,
    expected_unique: expected.size,
    delivered_unique: uniqueIds.size,
    lost,
    doubled: doubles.doubled.length,
    published_again: doubles.publishedAgain,
    dead_lettered: deadLetters.length,
    false_dead_letters: falseDeadLetters,
    dead_lettered_by_subscription: bySubscription,
    findings_published: findingMessages.length,
    findings_distinct: distinct.size,
    max_finding_repeats: Math.max(0, ...byFindingId.values()),
    equal_to_replay: comparison.equal,
    replay_differences: comparison.differences,
    p50_ms_unique: ms(percentile(uniqueLatency, 50)),
    p99_ms_unique: ms(percentile(uniqueLatency, 99)),
    p50_ms_finding: ms(percentile(findingLatency, 50)),
    p99_ms_finding: ms(percentile(findingLatency, 99)),
    per_function: perFunction,
    seconds: { publish: (t.t1 - t.t0) / 1000, drain: (t.t2 - t.t1) / 1000, total: (Date.now() - t.t0) / 1000 },
    load_average: Math.round(loadavg()[0]! * 10) / 10,
    deaths: Object.fromEntries(stack.functions.map((f) => [f.name, f.deaths.length])),
  };
}

/** The few lines a person reads. */
export function renderLoad(r: LoadResult): string {
  const pf = Object.entries(r.per_function)
    .map(([name, f]) => {
      const b = f.bigtable_per_event;
      const bigtable = b.reads + b.writes + b.deletes > 0 ? `, Bigtable ${b.reads.toFixed(2)} rows read ${b.writes.toFixed(2)} written ${b.deletes.toFixed(2)} deleted /event` : '';
      return `  ${name.padEnd(22)} ${f.cpu_seconds_per_event.toFixed(4)} CPU s/event, Firestore ${f.firestore_per_event.reads.toFixed(2)} reads ${f.firestore_per_event.writes.toFixed(2)} writes ${f.firestore_per_event.deletes.toFixed(2)} deletes /event${bigtable}`;
    })
    .join('\n');
  return [
    `published ${r.published} at ${r.achieved_rate}/s (asked ${r.rate}/s)${r.kill ? `, killed ${r.kill}` : ''}; load average ${r.load_average}`,
    `events-unique: ${r.delivered_unique} of ${r.expected_unique} accepted by replay: ${r.lost} lost, ${r.doubled} doubled (accepted from two deliveries), ${r.published_again} published again by a redelivery`,
    `dead-lettered: ${r.dead_lettered}, of which processed (false dead letters): ${r.false_dead_letters}`,
    `findings: ${r.findings_published} published, ${r.findings_distinct} distinct ids (a finding id at most ${r.max_finding_repeats} times); ${r.equal_to_replay ? 'equal to replay' : `differ from replay:\n    ${r.replay_differences.slice(0, 20).join('\n    ')}`}`,
    `latency publish -> events-unique p50 ${r.p50_ms_unique} ms, p99 ${r.p99_ms_unique} ms; publish -> finding p50 ${r.p50_ms_finding} ms, p99 ${r.p99_ms_finding} ms`,
    `per function:\n${pf}`,
  ].join('\n');
}

const Args = z.object({
  events: z.coerce.number().int().positive().default(2000),
  rate: z.coerce.number().positive().default(50),
  seed: z.coerce.number().int().nonnegative().default(42),
  log: z.string().optional(),
  kill: z
    .string()
    .regex(/^[a-z][a-z-]*@\d+(\.\d+)?$/, '--kill takes FUNCTION@SECONDS, e.g. deduplicator@12')
    .transform((s) => ({ fn: s.split('@')[0]!, atSeconds: Number(s.split('@')[1]) }))
    .optional(),
  json: z.string().optional(),
  quiet: z.coerce.number().positive().default(3),
  timeout: z.coerce.number().positive().default(1800),
});

const HELP = `Usage: npm run load -- [--events N] [--rate R] [--seed S] [--log FILE] [--kill FUNCTION@SECONDS] [--json FILE]

Publishes a generated log (or --log FILE, with the world file generate wrote beside it) into the
local stack at a rate, waits for quiet, replays the same log, and prints: published, lost and
doubled on events-unique, dead letters and false dead letters, findings against replay's,
latencies, and CPU seconds and Firestore operations per event per function.
Exit 0 when nothing was lost or doubled (an event accepted from two different deliveries),
nothing processed was dead-lettered and the findings equal replay's. The stack keeps the
functions' hot state where STATE_STORE says (bigtable when unset: the Bigtable emulator runs
beside the others; STATE_STORE=firestore runs without it).

Options:
  --events N                 events to generate (default 2000; ignored with --log)
  --rate R                   events published per second (default 50)
  --seed S                   the generator's seed (default 42)
  --log FILE                 publish this log instead of generating one
  --kill FUNCTION@SECONDS    kill that function once, SECONDS after publishing starts
  --json FILE                also write the result as JSON
  --quiet SECONDS            how long the pipeline must be idle to count as quiet (default 3)
  --timeout SECONDS          give up waiting for quiet after this long (default 1800)
  -h, --help                 this text
`;

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        events: { type: 'string' },
        rate: { type: 'string' },
        seed: { type: 'string' },
        log: { type: 'string' },
        kill: { type: 'string' },
        json: { type: 'string' },
        quiet: { type: 'string' },
        timeout: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    process.stderr.write(`load: ${(err as Error).message} (try: npm run load -- --help)\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const parsed = Args.safeParse(values);
  if (!parsed.success) {
    process.stderr.write(`load: ${z.prettifyError(parsed.error)}\n`);
    return 2;
  }
  const a = parsed.data;
  const result = await runLoad({
    events: a.events,
    rate: a.rate,
    seed: a.seed,
    ...(a.log ? { log: a.log } : {}),
    ...(a.kill ? { kill: a.kill } : {}),
    quietMs: a.quiet * 1000,
    timeoutMs: a.timeout * 1000,
    progress: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(`${renderLoad(result)}\n`);
  if (a.json) writeFileSync(a.json, `${JSON.stringify(result, null, 2)}\n`);
  return result.lost === 0 && result.doubled === 0 && result.false_dead_letters === 0 && result.equal_to_replay && (result.unfinished ?? []).length === 0 ? 0 : 1;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`load: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
