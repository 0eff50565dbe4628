/**
 * gap-detector against the Firestore emulator: sustained events/s for one busy source through
 * the function's handler (the sequences subscription), the same for lead flows (the chains
 * subscription), and Firestore reads, writes and deletes per event as the adapter counts them,
 * with what a million events would cost at list prices. Figures are printed, never asserted.
 *
 *   node dist/tools/bench/gap-detector.js [--events 20000] [--flows 2000] [--concurrency 64] [--instances 4] [--markers firestore|bigtable]
 *
 * `--markers bigtable`: the sequence markers in a Bigtable table (STATE_STORE=bigtable), the rest
 * in Firestore; Bigtable rows per event are printed beside Firestore's operations (a node bills
 * by the hour, not per row: https://cloud.google.com/bigtable/pricing).
 * Uses FIRESTORE_EMULATOR_HOST (and BIGTABLE_EMULATOR_HOST) when set, else starts emulators of its own.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { CloudEvent } from '@google-cloud/functions-framework';
import { Firestore } from '@google-cloud/firestore';
import { bigtableInstance, ensureTables } from '../../shared/adapters/bigtable';
import { MemoryPublisher } from '../../shared/adapters/memory-publisher';
import { silentLogger } from '../../shared/log';
import type { Clock } from '../../shared/ports';
import { pushBody, type MessagePublishedData } from '../../shared/pubsub/push';
import { TOPICS } from '../../shared/topology';
import { BigtableMarkerLog, MARKER_FAMILY } from '../../functions/gap-detector/bigtable-markers';
import { FirestoreGapStore, type GapStoreCounts } from '../../functions/gap-detector/firestore-store';
import type { MarkerLog } from '../../functions/gap-detector/store';
import { DEFAULT_GAP_DETECTOR_CONFIG, gapDetectorHandler } from '../../functions/gap-detector/handler';
import { startEmulator } from '../local/emulators';
import { prng } from '../../cli/generate/log';

export interface GapBenchOptions {
  /** Events of the one busy source (default 20,000). */
  readonly events?: number;
  /** Lead flows (scan → lead → CRM → follow-up, some broken) through the chains subscription (default 2,000; 0 skips). */
  readonly flows?: number;
  /** Deliveries in flight at once, as push subscriptions keep them (default 64). */
  readonly concurrency?: number;
  /** Function instances sharing the database, each with its own pacing and watermark (default 4). */
  readonly instances?: number;
  /** host:port of a Firestore emulator; default FIRESTORE_EMULATOR_HOST, else one is started. */
  readonly firestoreHost?: string;
  /** Where the sequence markers are kept (default firestore); bigtable uses BIGTABLE_EMULATOR_HOST, else starts an emulator. */
  readonly markers?: 'firestore' | 'bigtable';
}

/** Firestore list prices per 100,000 operations, USD (check the current price list before quoting). */
const PRICES = {
  'regional, e.g. us-central1': { reads: 0.03, writes: 0.09, deletes: 0.01 },
  'multi-region nam5': { reads: 0.06, writes: 0.18, deletes: 0.02 },
} as const;

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

interface Phase {
  events: number;
  seconds: number;
  drainSeconds: number;
  retries: number;
  counts: GapStoreCounts;
}

/** What each phase found against what it dropped: the bench's own check that the figures are of work done. */
export interface GapBenchResult {
  readonly lines: string[];
  readonly sequences: PhaseResult;
  readonly chains?: PhaseResult;
}

/** `writes`, `reads`, `deletes`: Firestore's, per phase; `rows`: Bigtable's (the markers, with `--markers bigtable`). */
export interface PhaseResult {
  readonly events: number;
  readonly reads: number;
  readonly writes: number;
  readonly deletes: number;
  readonly rows: { readonly reads: number; readonly writes: number; readonly deletes: number };
  readonly reported: number;
  readonly expected: number;
}

/** Runs the gap-detector bench; returns printable lines. */
export async function benchGapDetector(opts: GapBenchOptions = {}): Promise<string[]> {
  return (await runGapBench(opts)).lines;
}

export async function runGapBench(opts: GapBenchOptions = {}): Promise<GapBenchResult> {
  const events = opts.events ?? 20_000;
  const flows = opts.flows ?? 2_000;
  const concurrency = opts.concurrency ?? 64;
  const instances = opts.instances ?? 4;
  const where = opts.markers ?? 'firestore';
  let host = opts.firestoreHost ?? process.env.FIRESTORE_EMULATOR_HOST;
  const emulator = host === undefined ? await startEmulator('firestore') : undefined;
  host ??= emulator!.host;
  const firestore = new Firestore({ projectId: 'event-recovery-bench', host, ssl: false });
  // The Bigtable client finds the emulator through BIGTABLE_EMULATOR_HOST.
  const btEmulator = where === 'bigtable' && process.env.BIGTABLE_EMULATOR_HOST === undefined ? await startEmulator('bigtable') : undefined;
  if (btEmulator !== undefined) process.env.BIGTABLE_EMULATOR_HOST = btEmulator.host;
  const instance = where === 'bigtable' ? bigtableInstance('event-recovery-bench') : undefined;
  const markerLog = async (): Promise<MarkerLog | undefined> => {
    if (instance === undefined) return undefined;
    const table = `bench-markers-${randomBytes(3).toString('hex')}`;
    await ensureTables(instance, [{ table, families: [MARKER_FAMILY] }]);
    return new BigtableMarkerLog(instance.table(table));
  };
  const lines = [
    `gap-detector bench: Firestore emulator at ${host}${instance ? `, sequence markers in the Bigtable emulator at ${process.env.BIGTABLE_EMULATOR_HOST}` : ''}, ${instances} function instances, ${concurrency} deliveries in flight`,
  ];
  let result: Omit<GapBenchResult, 'lines'>;
  try {
    // The emulator's pace on this machine right now, for scale: the figures below are relative to it.
    const base = await baseline(firestore, Math.min(events, 3000), concurrency);
    lines.push(`  baseline: plain Firestore creates, ${concurrency} in flight: ${fmt(base)} creates/s`);
    const seq = await sequencesPhase(firestore, await markerLog(), events, concurrency, instances);
    lines.push(
      `  sequences, one busy source: ${fmt(seq.phase.events)} events in ${fmt(seq.phase.seconds, 1)} s: ${fmt(seq.phase.events / seq.phase.seconds)} events/s sustained` +
        ` (closing tick ${fmt(seq.phase.drainSeconds, 1)} s, ${fmt(seq.phase.retries)} redeliveries); gaps reported ${seq.reported}, dropped ranges ${seq.expected}${seq.reported === seq.expected ? '' : ' MISMATCH'}`,
      ...costLines(seq.phase),
    );
    result = { sequences: phaseResult(seq) };
    if (flows > 0) {
      const chains = await chainsPhase(firestore, await markerLog(), flows, concurrency, instances);
      lines.push(
        `  chains, lead flows: ${fmt(chains.phase.events)} events in ${fmt(chains.phase.seconds, 1)} s: ${fmt(chains.phase.events / chains.phase.seconds)} events/s` +
          ` (closing tick ${fmt(chains.phase.drainSeconds, 1)} s); chains broken ${chains.reported}, expected ${chains.expected}${chains.reported === chains.expected ? '' : ' MISMATCH'}`,
        ...costLines(chains.phase),
      );
      result = { ...result, chains: phaseResult(chains) };
    }
  } finally {
    await firestore.terminate();
    await instance?.bigtable.close();
    await emulator?.stop();
    if (btEmulator !== undefined) {
      await btEmulator.stop();
      delete process.env.BIGTABLE_EMULATOR_HOST;
    }
  }
  return { lines, ...result };
}

function phaseResult(r: { phase: Phase; reported: number; expected: number }): PhaseResult {
  const { reads, writes, deletes, bigtable } = r.phase.counts;
  return { events: r.phase.events, reads, writes, deletes, rows: { ...bigtable }, reported: r.reported, expected: r.expected };
}

function costLines(p: Phase): string[] {
  const per = { reads: p.counts.reads / p.events, writes: p.counts.writes / p.events, deletes: p.counts.deletes / p.events };
  const rows = p.counts.bigtable;
  const lines = [`    Firestore per event: ${fmt(per.reads, 2)} reads, ${fmt(per.writes, 2)} writes, ${fmt(per.deletes, 2)} deletes (closing tick included)`];
  if (rows.reads + rows.writes + rows.deletes > 0) {
    lines.push(
      `    Bigtable rows per event (the markers; billed by node-hour, not per row): ${fmt(rows.reads / p.events, 2)} read, ${fmt(rows.writes / p.events, 2)} written, ${fmt(rows.deletes / p.events, 2)} deleted`,
    );
  }
  for (const [where, price] of Object.entries(PRICES)) {
    const cost = ((per.reads * price.reads + per.writes * price.writes + per.deletes * price.deletes) * 1e6) / 1e5;
    lines.push(`    per million events at ${where} list prices ($${price.reads}/$${price.writes}/$${price.deletes} per 100k): $${fmt(cost, 2)}`);
  }
  return lines;
}

/**
 * The wall clock, and the closing tick: a scheduler tick moves the watermark on only by the
 * wall-clock time the events' watermark has stood still (functions/gap-detector/watermark.ts,
 * `tickWatermark`), so a tick just after the deliveries makes nothing due. The closing tick is
 * the one a quiet stream gets three hours later, when every gap and chain left open is due.
 */
const SILENCE_MS = 3 * 3_600_000;

function handlers(firestore: Firestore, markers: MarkerLog | undefined, instances: number, publisher: MemoryPublisher) {
  const store = new FirestoreGapStore(firestore, `bench-${randomBytes(3).toString('hex')}`, markers);
  let silence = 0;
  const clock: Clock = { now: () => Date.now() + silence };
  const list = Array.from({ length: instances }, (_, i) =>
    gapDetectorHandler({ publisher, store, clock, config: DEFAULT_GAP_DETECTOR_CONFIG, logger: silentLogger, instanceId: `bench-${i}` }),
  );
  const closingTick = () => {
    silence = SILENCE_MS;
    return list[0]!(delivery(TOPICS.ticks, undefined, 0));
  };
  return { store, list, closingTick };
}

function delivery(topic: string, event: object | undefined, id: number): CloudEvent<MessagePublishedData> {
  return {
    specversion: '1.0',
    id: `m-${id}`,
    type: 'google.cloud.pubsub.topic.v1.messagePublished',
    source: `//pubsub.googleapis.com/projects/bench/topics/${topic}`,
    data: pushBody(JSON.stringify(event ?? {}), {}, `m-${id}`),
  };
}

/** Delivers with `concurrency` in flight, round-robin over the instances; a failed delivery is redelivered, as Pub/Sub would. */
async function deliverAll(list: ReadonlyArray<(ce: CloudEvent<MessagePublishedData>) => Promise<void>>, ces: CloudEvent<MessagePublishedData>[], concurrency: number) {
  let next = 0;
  let retries = 0;
  const worker = async () => {
    for (let i = next++; i < ces.length; i = next++) {
      for (let attempt = 0; ; attempt++) {
        try {
          await list[(i + attempt) % list.length]!(ces[i]!);
          break;
        } catch (err) {
          if (attempt >= 10) throw err;
          retries++;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return retries;
}

async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const start = process.hrtime.bigint();
  const result = await work();
  return [result, Number(process.hrtime.bigint() - start) / 1e9];
}

async function baseline(firestore: Firestore, count: number, concurrency: number): Promise<number> {
  const collection = firestore.collection(`bench-baseline-${randomBytes(3).toString('hex')}`);
  let next = 0;
  const [, seconds] = await timed(() =>
    Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (let i = next++; i < count; i = next++) await collection.doc(`d${i}`).create({ i, at: Date.now() });
      }),
    ),
  );
  return count / seconds;
}

async function sequencesPhase(firestore: Firestore, markers: MarkerLog | undefined, events: number, concurrency: number, instances: number) {
  const publisher = new MemoryPublisher();
  const { store, list, closingTick } = handlers(firestore, markers, instances, publisher);
  const random = prng(11);
  // Event times 2 ms apart (500 events/s of event time), ending well before the wall clock.
  const start = Date.now() - 30 * 60_000;
  const ces: CloudEvent<MessagePublishedData>[] = [];
  let expected = 0;
  let dropping = false;
  for (let n = 1; n <= events; n++) {
    const drop = n > 1 && n < events && random() < 0.001;
    if (drop && !dropping) expected++;
    dropping = drop;
    if (drop) continue;
    const event = {
      specversion: '1.0',
      id: `ev-${n}`,
      source: '//bench/busy',
      type: 'lead.tagged',
      time: new Date(start + n * 2).toISOString(),
      sequence: String(n),
      data: { lead_id: `lead-${n}`, tags: ['bench'] },
    };
    // Accepted events: gap-detector tracks their numbers from events-unique (a duplicate's from events-duplicates).
    ces.push(delivery(TOPICS.unique, event, n));
  }
  const [retries, seconds] = await timed(() => deliverAll(list, ces, concurrency));
  const [, drainSeconds] = await timed(closingTick);
  const reported = publisher.json(TOPICS.findings).filter((f) => (f as { kind?: string }).kind === 'gap').length;
  return { phase: { events: ces.length, seconds, drainSeconds, retries, counts: { ...store.counts, bigtable: { ...store.counts.bigtable } } }, reported, expected };
}

async function chainsPhase(firestore: Firestore, markers: MarkerLog | undefined, flows: number, concurrency: number, instances: number) {
  const publisher = new MemoryPublisher();
  const { store, list, closingTick } = handlers(firestore, markers, instances, publisher);
  const random = prng(12);
  const start = Date.now() - 3 * 3_600_000;
  const events: Array<{ timeMs: number; event: object }> = [];
  let expected = 0;
  const push = (type: string, minutes: number, data: object) => {
    const timeMs = start + minutes * 60_000;
    events.push({ timeMs, event: { specversion: '1.0', id: `ev-${events.length}`, source: '//bench/flows', type, time: new Date(timeMs).toISOString(), data } });
  };
  for (let f = 0; f < flows; f++) {
    const t = f * 0.05; // a flow every 3 s of event time
    const card = `card-${f}`;
    const lead = `lead-${f}`;
    // Each flow stops early now and then: its last event waits in vain.
    const length = random() < 0.05 ? 1 + Math.floor(random() * 3) : 4;
    push('card.scanned', t, { card_id: card, scanned_by: 'rep', contact: {} });
    if (length > 1) push('lead.created', t + 1, { lead_id: lead, card_id: card, owner_id: 'owner' });
    if (length > 2) push('crm.synced', t + 2, { lead_id: lead, crm: 'hubspot', crm_record_id: `hs-${f}` });
    if (length > 3) push('followup.sent', t + 3, { lead_id: lead, channel: 'email', template: 'welcome', message_id: `m-${f}` });
    else expected++;
  }
  // Delivered in event-time order, as producers send them: a flow's steps are minutes apart.
  events.sort((a, b) => a.timeMs - b.timeMs);
  const ces = events.map((e, i) => delivery(TOPICS.unique, e.event, i + 1));
  const [retries, seconds] = await timed(() => deliverAll(list, ces, concurrency));
  const [, drainSeconds] = await timed(closingTick);
  const reported = publisher.json(TOPICS.findings).filter((f) => (f as { kind?: string }).kind === 'chain_broken').length;
  return { phase: { events: ces.length, seconds, drainSeconds, retries, counts: { ...store.counts, bigtable: { ...store.counts.bigtable } } }, reported, expected };
}

async function main() {
  const { values } = parseArgs({
    options: {
      events: { type: 'string' },
      flows: { type: 'string' },
      concurrency: { type: 'string' },
      instances: { type: 'string' },
      markers: { type: 'string' },
    },
  });
  const number = (name: string, text: string | undefined) => {
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!Number.isInteger(n) || n < 0) {
      process.stderr.write(`bench: --${name} takes a whole number\n`);
      process.exit(2);
    }
    return n;
  };
  let options: GapBenchOptions = {
    ...(values.events !== undefined ? { events: number('events', values.events)! } : {}),
    ...(values.flows !== undefined ? { flows: number('flows', values.flows)! } : {}),
    ...(values.concurrency !== undefined ? { concurrency: number('concurrency', values.concurrency)! } : {}),
    ...(values.instances !== undefined ? { instances: number('instances', values.instances)! } : {}),
  };
  if (values.markers !== undefined) {
    if (values.markers !== 'firestore' && values.markers !== 'bigtable') {
      process.stderr.write('bench: --markers takes firestore or bigtable\n');
      process.exit(2);
    }
    options = { ...options, markers: values.markers };
  }
  // No metadata server here: do not let the auth library go looking for one.
  process.env.METADATA_SERVER_DETECTION ??= 'none';
  for (const line of await benchGapDetector(options)) process.stdout.write(`${line}\n`);
}

if (require.main === module) void main();
