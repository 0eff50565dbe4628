/**
 * The deduplicator's two state stores side by side on the emulators: the same generated log (about
 * 1 % duplicates) through the function's handler, once with the Firestore store and once with the
 * Bigtable store, each in a fresh collection/table. Per event: the RPCs each store sends (Firestore:
 * commits with the documents they write, and documents read; Bigtable: CheckAndMutateRow and
 * ReadRows calls), counted at the client; the latency of a delivery one at a time (p50/p95); and
 * events/s with deliveries in flight together. Figures are printed, never asserted: the emulators
 * are not the services, so the latencies say how the two designs compare here, not what GCP does.
 *
 *   npm run build && node dist/tools/bench/deduplicator.js [--events 4000] [--concurrency 32]
 *
 * Uses FIRESTORE_EMULATOR_HOST / BIGTABLE_EMULATOR_HOST when set, else starts emulators of its own.
 */
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { parseArgs } from 'node:util';
import type { CloudEvent } from '@google-cloud/functions-framework';
import { Firestore } from '@google-cloud/firestore';
import { bigtableInstance, ensureTables } from '../../shared/adapters/bigtable';
import { MemoryPublisher } from '../../shared/adapters/memory-publisher';
import { decodeEvent } from '../../shared/events/decode';
import { silentLogger } from '../../shared/log';
import { pushBody, type MessagePublishedData } from '../../shared/pubsub/push';
import { TOPICS } from '../../shared/topology';
import { BigtableDedupStore, DEDUP_TABLE } from '../../functions/deduplicator/bigtable-state';
import { DEFAULT_DEDUP_CONFIG } from '../../functions/deduplicator/core';
import { FirestoreDedupStore } from '../../functions/deduplicator/firestore-state';
import { deduplicatorHandler } from '../../functions/deduplicator/handler';
import type { DedupStore } from '../../functions/deduplicator/state';
import { generateLog } from '../../cli/generate/log';
import { startEmulator, type Emulator } from '../local/emulators';

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

interface StoreRun {
  readonly name: string;
  readonly store: DedupStore;
  /** RPC counts so far, by name. */
  readonly counts: Map<string, number>;
  close(): Promise<void>;
}

interface Phase {
  readonly events: number;
  readonly seconds: number;
  readonly latenciesMs: number[];
  readonly retries: number;
  readonly counts: Map<string, number>;
  readonly forwarded: number;
  readonly duplicates: number;
}

function push(data: string, i: number, tag: string): CloudEvent<MessagePublishedData> {
  const messageId = `${tag}-${i}`;
  return {
    specversion: '1.0',
    id: messageId,
    type: 'google.cloud.pubsub.topic.v1.messagePublished',
    source: `//pubsub.googleapis.com/projects/bench/topics/${TOPICS.raw}`,
    data: pushBody(data, {}, messageId),
  };
}

async function runPhase(run: StoreRun, lines: readonly string[], concurrency: number, tag: string): Promise<Phase> {
  const publisher = new MemoryPublisher();
  const handler = deduplicatorHandler({ publisher, store: run.store, clock: { now: () => Date.now() }, config: DEFAULT_DEDUP_CONFIG, validation: { maxFutureMs: 5 * 60_000 }, logger: silentLogger });
  run.counts.clear();
  const latenciesMs: number[] = [];
  let retries = 0;
  let next = 0;
  const started = process.hrtime.bigint();
  const worker = async () => {
    for (let i = next++; i < lines.length; i = next++) {
      const ce = push(lines[i]!, i, tag);
      const t0 = process.hrtime.bigint();
      for (let attempt = 1; ; attempt++) {
        try {
          await handler(ce);
          break;
        } catch (err) {
          if (attempt >= 20) throw err;
          retries++;
          await new Promise((r) => setTimeout(r, 20 * attempt));
        }
      }
      latenciesMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return {
    events: lines.length,
    seconds,
    latenciesMs,
    retries,
    counts: new Map(run.counts),
    forwarded: publisher.messages.filter((m) => m.topic === TOPICS.unique).length,
    duplicates: publisher.messages.filter((m) => m.topic === TOPICS.duplicates).length,
  };
}

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
};

function firestoreRun(host: string, collection: string): StoreRun {
  const counts = new Map<string, number>();
  const add = (k: string, n: number) => counts.set(k, (counts.get(k) ?? 0) + n);
  // The RPCs the client sends, at its gRPC call hook (as tools/cost/meter.ts counts them).
  const firestore = new Firestore({
    projectId: 'event-recovery-bench',
    host,
    ssl: false,
    'grpc.callInvocationTransformer': (props: { methodDefinition: { path: string }; argument?: { writes?: unknown[]; documents?: unknown[] } }) => {
      const method = props.methodDefinition.path.replace('/google.firestore.v1.Firestore/', '');
      add(method, 1);
      if (method === 'Commit') add('documents written', props.argument?.writes?.length ?? 0);
      if (method === 'BatchGetDocuments') add('documents read', props.argument?.documents?.length ?? 0);
      return props;
    },
  });
  return { name: 'Firestore', store: new FirestoreDedupStore(firestore, collection), counts, close: async () => { await firestore.terminate(); } };
}

async function bigtableRun(table: string): Promise<StoreRun> {
  const counts = new Map<string, number>();
  const instance = bigtableInstance('event-recovery-bench');
  await ensureTables(instance, [{ table, families: DEDUP_TABLE.families }]);
  // Every RPC of the Bigtable client goes through `bigtable.request`.
  const client = instance.bigtable as unknown as { request: (config: { method: string }, callback?: unknown) => unknown };
  const send = client.request.bind(client);
  client.request = (config, callback) => {
    counts.set(config.method, (counts.get(config.method) ?? 0) + 1);
    return send(config, callback);
  };
  return { name: 'Bigtable', store: new BigtableDedupStore(instance, table), counts, close: async () => { await instance.bigtable.close(); } };
}

function report(name: string, one: Phase, many: Phase, concurrency: number): string[] {
  const perEvent = [...many.counts].map(([k, v]) => `${k} ${fmt(v / many.events, 2)}`).join(', ');
  return [
    `${name}:`,
    `  per event (${fmt(many.events)} events, ${fmt(many.forwarded)} forwarded, ${fmt(many.duplicates)} duplicates): ${perEvent}`,
    `  one at a time (${fmt(one.events)} events): p50 ${fmt(quantile(one.latenciesMs, 0.5), 1)} ms, p95 ${fmt(quantile(one.latenciesMs, 0.95), 1)} ms a delivery`,
    `  ${concurrency} in flight: ${fmt(many.events / many.seconds)} events/s, p50 ${fmt(quantile(many.latenciesMs, 0.5), 1)} ms, p95 ${fmt(quantile(many.latenciesMs, 0.95), 1)} ms, ${fmt(many.retries)} redeliveries`,
  ];
}

export async function benchDeduplicator(opts: { events?: number; concurrency?: number } = {}): Promise<string[]> {
  const events = opts.events ?? 4000;
  const concurrency = opts.concurrency ?? 32;
  const started: Emulator[] = [];
  try {
    let firestoreHost = process.env.FIRESTORE_EMULATOR_HOST;
    if (!firestoreHost) {
      const e = await startEmulator('firestore');
      started.push(e);
      firestoreHost = e.host;
    }
    if (!process.env.BIGTABLE_EMULATOR_HOST) {
      const e = await startEmulator('bigtable');
      started.push(e);
      process.env.BIGTABLE_EMULATOR_HOST = e.host;
    }
    process.env.METADATA_SERVER_DETECTION ??= 'none';
    // The generated log (its duplicates included), valid lines only: an invalid one is routed before any claim.
    const sink = new PassThrough();
    const chunks: Buffer[] = [];
    sink.on('data', (c: Buffer) => chunks.push(c));
    await generateLog(sink, Math.ceil(events * 1.01) + 1000);
    const lines = Buffer.concat(chunks)
      .toString('utf8')
      .split('\n')
      .filter((l) => l !== '' && decodeEvent(Buffer.from(l)).ok);
    const oneAtATime = lines.slice(0, Math.min(1000, Math.floor(events / 4)));
    const together = lines.slice(oneAtATime.length, oneAtATime.length + events);
    const out = [`deduplicator state bench: the Firestore emulator at ${firestoreHost}, the Bigtable emulator at ${process.env.BIGTABLE_EMULATOR_HOST}`];
    const run = randomBytes(3).toString('hex');
    for (const make of [() => firestoreRun(firestoreHost, `bench-${run}-dedup`), () => bigtableRun(`bench-${run}-dedup`)]) {
      const store = await make();
      try {
        const one = await runPhase(store, oneAtATime, 1, `${store.name}-1`);
        const many = await runPhase(store, together, concurrency, `${store.name}-n`);
        out.push(...report(store.name, one, many, concurrency));
      } finally {
        await store.close();
      }
    }
    return out;
  } finally {
    for (const e of started) await e.stop();
  }
}

if (require.main === module) {
  const { values } = parseArgs({ options: { events: { type: 'string' }, concurrency: { type: 'string' } } });
  benchDeduplicator({ events: values.events ? Number(values.events) : undefined, concurrency: values.concurrency ? Number(values.concurrency) : undefined })
    .then((lines) => console.log(lines.join('\n')))
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
}
