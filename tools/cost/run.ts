#!/usr/bin/env node
/**
 * `npm run cost`: runs the local stack (emulators, every function, the stand-ins) on the demo's
 * generated stream and counts, per stage, what GCP bills: Pub/Sub messages and bytes published
 * (at the client, tools/cost/meter.ts) and delivered (at the push gateway), invocations, CPU
 * time of each function process, request time, Firestore reads/writes/deletes (at the client's
 * gRPC calls). Prints them per million events and priced at tools/cost/prices.json.
 *
 * Compute is priced as request-based billing charges it: per function, the time its instance had
 * at least one request in flight (the union of its requests' intervals, each busy period rounded
 * up to 100 ms: tools/cost/instance-time.ts), at the vCPU and memory infra/ deploys it with. The
 * gateway pushes each function at most its deployed concurrency at once (over all its
 * subscriptions), so the one local process is busy as one such instance would be at this traffic.
 *
 *   npm run cost                  the demo stream of `npm start` (300 events with its injected faults)
 *   npm run cost -- --seed N      another seed
 *   npm run cost -- --json FILE   also the counts as JSON: {"per_million_usd", "stages", "documents", ...}
 *   npm run cost -- --scale K [--hot-share F]
 *                                 a load stream instead: K times the demo's traffic over its span,
 *                                 one producer sending F (default 0.2) of all events
 *   npm run cost -- --events-per-hour N
 *                                 the rate Bigtable's nodes are amortised at (default 2,000,000)
 *   npm run cost -- --state-store firestore|bigtable
 *                                 the functions' STATE_STORE (default: the stack's, bigtable)
 *
 * Bigtable bills provisioned nodes by the hour, not operations: its rows read, written and deleted
 * are counted per stage like Firestore's documents, and priced as the nodes that serve them at the
 * given rate (tools/cost/table.ts `bigtableSizing`), one line of its own.
 *
 * Every Firestore write is also counted per document (the meter's histogram): the busiest
 * document's writes in one second, against Firestore's sustained ~1 write/s per document.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { TOPICS, topology } from '../../shared/topology';
import { parseStateStore } from '../local/cli';
import { DEFAULT_OPTIONS, runStack, type RunningStack } from '../local/stack';
import { readDeployedSettings } from '../scale/deployed';
import type { FunctionSettings } from '../scale/model';
import { afterMeterWrite, readMeters, type MeterFile } from './counts';
import { documentWrites, type DocumentWrites } from './documents';
import { instanceTime } from './instance-time';
import { bigtableRetentionHours, bigtableSizing, costJson, DEFAULT_EVENTS_PER_HOUR, noWork, Prices, publishBillableBytes, pushBillableBytes, renderCostTables, renderDocumentTable, throttledSeconds, type StageCounts, type StreamMix } from './table';

const ROOT = join(__dirname, '..', '..', '..');

export { deployedMemoryMiB } from '../scale/deployed';

const messageBytes = (m: { data: Buffer; attributes: Readonly<Record<string, string>>; id: string }) =>
  m.data.length + Buffer.byteLength(m.id) + Object.entries(m.attributes).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);

/** What the run did, per stage, from the meters, the gateway and the topic observer. */
/** Who sent the events that reached events-raw from outside, and of which types: the stream's mix. */
export function streamMix(payloads: readonly Buffer[]): StreamMix {
  const sources: Record<string, number> = {};
  const types: Record<string, number> = {};
  let events = 0;
  for (const data of payloads) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(data.toString('utf8'));
    } catch {
      continue;
    }
    if (typeof parsed !== 'object' || parsed === null) continue;
    const { source, type } = parsed as { source?: unknown; type?: unknown };
    if (typeof source !== 'string' || typeof type !== 'string') continue;
    events++;
    sources[source] = (sources[source] ?? 0) + 1;
    types[type] = (types[type] ?? 0) + 1;
  }
  const share = (counts: Record<string, number>) => Object.fromEntries(Object.entries(counts).sort(([, a], [, b]) => b - a).map(([k, n]) => [k, Number((n / Math.max(1, events)).toFixed(4))]));
  const top = Object.entries(sources).sort(([, a], [, b]) => b - a)[0];
  return { messages: payloads.length, events, busiestSource: top ? { source: top[0], share: Number((top[1] / events).toFixed(4)) } : null, sources: share(sources), types: share(types) };
}

interface Collected {
  readonly stages: StageCounts[];
  readonly events: number;
  readonly documents: DocumentWrites;
  readonly stream: StreamMix;
}

function collect(stack: RunningStack, meters: readonly MeterFile[], baselineCpuUs: ReadonlyMap<number, number>, prices: Prices, deployed: Readonly<Record<string, FunctionSettings>>): Collected {
  const published = (files: readonly MeterFile[]) => {
    let requests = 0;
    let messages = 0;
    let billableBytes = 0;
    for (const f of files) {
      for (const t of Object.values(f.publish)) {
        for (const r of t.requests) {
          requests++;
          messages += r.length;
          // Each message priced as a Publish request of its own, as an instance with concurrency 1
          // sends them: an upper bound where concurrent requests share the client's batches.
          for (const bytes of r) billableBytes += publishBillableBytes([bytes], prices);
        }
      }
    }
    return { requests, messages, billableBytes };
  };
  const stages: StageCounts[] = [];
  for (const fn of topology.functions) {
    if (!stack.served.has(fn.name)) continue;
    const pushes = stack.pushes.filter((p) => p.sub.function === fn.name).flatMap((p) => p.gateway.stats(p.sub.name).pushes);
    const settings = deployed[fn.name];
    if (!settings) throw new Error(`cost: no deployed settings for ${fn.name} (infra/)`);
    // One process serves the function (a restarted one takes the same port after the old one
    // died), pushed at most its deployed concurrency at once: its requests' union is what one
    // instance deployed like it would be billed for.
    const time = instanceTime(
      pushes.map((r) => ({ start: r.startedAt, end: r.startedAt + r.ms })),
      prices.cloudRunFunctions.billingGranularityMs.value,
    );
    const files = meters.filter((m) => m.function === fn.name);
    const fs = { reads: 0, writes: 0, deletes: 0 };
    const bt = { rowsRead: 0, emptyReads: 0, rowsWritten: 0, rowsDeleted: 0, bytesWritten: 0, storedBytes: 0 };
    let cpuUs = 0;
    for (const m of files) {
      fs.reads += m.firestore.reads + m.firestore.missingReads * prices.firestore.missingDocumentReads.value + m.firestore.emptyQueries * prices.firestore.emptyQueryReads.value;
      fs.writes += m.firestore.writes;
      fs.deletes += m.firestore.deletes;
      for (const k of Object.keys(bt) as Array<keyof typeof bt>) bt[k] += m.bigtable[k];
      cpuUs += m.cpuUs - (baselineCpuUs.get(m.pid) ?? 0);
    }
    stages.push({
      name: fn.name,
      invocations: pushes.length,
      deliveredBytes: pushes.reduce((n, r) => n + pushBillableBytes(r.bytes, prices), 0),
      published: published(files),
      cpuSeconds: cpuUs / 1e6,
      requestSeconds: time.requestSeconds,
      instanceSeconds: time.busySeconds,
      // Below 1 vCPU the deployed instance runs the CPU work longer than this unthrottled process did.
      billedInstanceSeconds: time.billedSeconds + throttledSeconds(cpuUs / 1e6, settings.cpu),
      memoryMiB: settings.memoryMiB,
      vcpu: settings.cpu,
      concurrency: settings.concurrency,
      firestore: fs,
      bigtable: bt,
      bigQueryBytes: 0,
    });
  }
  // What reached events-raw and ticks from outside the functions: the producers and the scheduler.
  const fromFunctions = (topic: string) => meters.reduce((n, m) => n + (m.publish[topic]?.requests.reduce((k, r) => k + r.length, 0) ?? 0), 0);
  const outside = [TOPICS.raw, TOPICS.ticks].map((topic) => ({ topic, seen: stack.observer.messages(topic), fromFunctions: fromFunctions(topic) }));
  const events = outside[0]!.seen.length - outside[0]!.fromFunctions;
  const producerMessages = outside.flatMap((o) => o.seen.slice(0, Math.max(0, o.seen.length - o.fromFunctions)));
  stages.unshift({
    ...noWork('producers + scheduler (publish to events-raw, ticks)'),
    // One message per Publish request, as a producer of single events sends them.
    published: { requests: producerMessages.length, messages: producerMessages.length, billableBytes: producerMessages.reduce((n, m) => n + publishBillableBytes([messageBytes(m) - Buffer.byteLength(m.id)], prices), 0) },
  });
  const archived = topology.subscriptions.filter((s) => s.bigquery !== undefined);
  stages.push({
    ...noWork(`BigQuery subscriptions (${archived.map((s) => s.name).join(', ')})`),
    bigQueryBytes: archived.reduce((n, s) => n + stack.observer.messages(s.topic).reduce((k, m) => k + messageBytes(m) + prices.pubsub.timestampBytes.value, 0), 0),
  });
  const outsideRaw = outside[0]!.seen.slice(0, Math.max(0, outside[0]!.seen.length - outside[0]!.fromFunctions));
  return { stages, events, documents: documentWrites(meters), stream: streamMix(outsideRaw.map((m) => m.data)) };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      seed: { type: 'string' },
      json: { type: 'string' },
      timeout: { type: 'string', default: '600' },
      scale: { type: 'string' },
      'hot-share': { type: 'string', default: '0.2' },
      'events-per-hour': { type: 'string', default: String(DEFAULT_EVENTS_PER_HOUR) },
      'state-store': { type: 'string' },
    },
  });
  const eventsPerHour = Number(values['events-per-hour']);
  if (!(eventsPerHour > 0)) throw new Error(`--events-per-hour must be a positive number, not ${values['events-per-hour']}`);
  const stateStore = values['state-store'] === undefined ? undefined : parseStateStore(values['state-store']);
  const scale = values.scale === undefined ? undefined : Number(values.scale);
  const hotShare = Number(values['hot-share']);
  if (scale !== undefined && !(scale > 0 && scale <= 100)) throw new Error(`--scale must be a number in (0, 100], not ${values.scale}`);
  if (!(hotShare >= 0 && hotShare < 1)) throw new Error(`--hot-share must be in [0, 1), not ${values['hot-share']}`);
  const prices = Prices.parse(JSON.parse(readFileSync(join(ROOT, 'tools', 'cost', 'prices.json'), 'utf8')));
  const deployed = readDeployedSettings(prices);
  const memoryMiB = Math.max(...Object.values(deployed).map((s) => s.memoryMiB));
  const dir = mkdtempSync(join(tmpdir(), 'er-cost-'));
  // The function processes inherit this environment (tools/local/stack.ts): each loads the meter first.
  process.env.EVENT_RECOVERY_METER_DIR = dir;
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --require ${join(__dirname, 'meter.js')}`.trim();
  let baseline = new Map<number, number>();
  let result: Collected | undefined;
  let upAt = 0;
  let quietAt = 0;
  // The stack's report is not printed (the tables are the output); its verdict and what it found
  // unexpected are kept, to say why a run ended non-zero.
  const verdictLines: string[] = [];
  try {
    const code = await runStack(
      {
        ...DEFAULT_OPTIONS,
        ...(values.seed ? { seed: Number(values.seed) } : {}),
        ...(scale !== undefined ? { load: { scale, hotShare } } : {}),
        timeoutMs: Number(values.timeout) * 1000,
        ...(stateStore ? { stateStore } : {}),
        measure: {
          functionConcurrency: (fn) => deployed[fn]?.concurrency,
          up: async () => {
            await afterMeterWrite(); // what start-up took is not the run's
            baseline = new Map(readMeters(dir).map((m) => [m.pid, m.cpuUs]));
            upAt = Date.now();
          },
          quiet: async (stack) => {
            quietAt = Date.now();
            await afterMeterWrite();
            result = collect(stack, readMeters(dir), baseline, prices, deployed);
          },
        },
      },
      {
        progress: (line) => process.stderr.write(`${line}\n`),
        report: (text) => verdictLines.push(...text.split('\n').filter((l) => /^(PASS|FAIL) |UNEXPECTED|MISSED|MISMATCH|Dead letters|unfinished/i.test(l.trim()))),
      },
    );
    if (!result || result.events <= 0) {
      process.stderr.write(`cost: the stack did not process the stream (exit ${code})\n`);
      return 1;
    }
    if (code !== 0) {
      process.stderr.write(`cost: warning: the stack's run ended with ${code} (a function failed or a fault went undetected); the counts are still those of the run\n`);
      for (const line of verdictLines) process.stderr.write(`  ${line.trim()}\n`);
    }
    // Rows kept (not deleted by their stage) stay as long as the tables' garbage-collection max age (the manifest's).
    const bigtable = bigtableSizing(result.stages, result.events, eventsPerHour, bigtableRetentionHours(topology.functions), prices);
    process.stdout.write(`${renderCostTables(result.stages, prices, result.events, bigtable)}\n`);
    process.stdout.write(`${renderDocumentTable(result.documents, result.stream)}\n`);
    process.stdout.write(`Each function pushed at most its deployed concurrency at once (infra/function-scaling.json, infra/main.tf). Not priced: ${prices.notPriced.join(' ')}\n`);
    const run = { processingSeconds: (quietAt - upAt) / 1000, scale: scale ?? null, seed: values.seed ? Number(values.seed) : DEFAULT_OPTIONS.seed };
    if (values.json) writeFileSync(values.json, `${JSON.stringify(costJson(result.stages, prices, result.events, { memoryMiB, run, stream: result.stream, documents: result.documents }, bigtable), null, 2)}\n`);
    return 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`cost: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
