import { createHash } from 'node:crypto';
import { Timestamp, type Firestore } from '@google-cloud/firestore';
import { MemoryPublisher } from '../../shared/adapters/memory-publisher';
import { BusinessEvent } from '../../shared/events/envelope';
import { silentLogger } from '../../shared/log';
import { TOPICS } from '../../shared/topology';
import { FirestoreGapStore, type FirestoreCounts } from '../../functions/gap-detector/firestore-store';
import { DEFAULT_GAP_DETECTOR_CONFIG, gapDetectorHandler } from '../../functions/gap-detector/handler';
import { DEFAULT_GAP_STATE_CONFIG, type GapStateContext } from '../../functions/gap-detector/store';
import { FOLD_LEASE_MIN_BATCH } from '../../functions/gap-detector/transitions';
import { emulatorClients, runPrefix } from '../support/harness';
import { cardScanned, crmSynced, followupSent, leadCreated } from '../support/events';
import { GAP_STREAM_T0, gapStream } from '../support/gap-stream';
import { pushedEvent } from '../support/push';
import { replayText } from '../support/replay';
import { MARKER_STORES, useMarkerLog } from '../support/gap-markers';

const T0 = GAP_STREAM_T0;
const MIN = 60_000;
const at = (ms: number) => new Date(T0 + ms).toISOString();
const ctx: GapStateContext = { now: T0, config: DEFAULT_GAP_STATE_CONFIG };

/** A gap-detector over `store` that folds and raises its watermark at every delivery, on a clock the test moves. */
const detector = (store: FirestoreGapStore, clock: { ms: number }, instanceId: string) => {
  const publisher = new MemoryPublisher();
  const handler = gapDetectorHandler({
    publisher,
    store,
    clock: { now: () => clock.ms },
    config: { ...DEFAULT_GAP_DETECTOR_CONFIG, foldIntervalMs: 0, watermarkStepMs: 0 },
    logger: silentLogger,
    instanceId,
  });
  return { publisher, handler };
};
/** A chain document of the layout before one per card and per lead: one per await key, named by the key's digest, the record at its top level. */
const legacyId = (key: string) => createHash('sha256').update(JSON.stringify([key])).digest('base64url');
const legacyWait = (key: string, eventId: string, type: string, timeMs: number, deadlineMs: number) => ({
  key,
  seen: false,
  waiting: [{ eventId, type, source: '//old', timeMs, deadlineMs, order: 1 }],
  reported: [],
  dueMs: deadlineMs,
  expireAt: Timestamp.fromMillis(T0 + 24 * 60 * MIN),
});
const sorted = (findings: readonly object[]) => findings.map((f) => JSON.stringify(f)).sort();

describe('gap-detector chain state in the Firestore emulator: one document per card and per lead', () => {
  const prefix = runPrefix('gapdoc');
  let firestore: Firestore;

  beforeAll(() => {
    ({ firestore } = emulatorClients());
  });
  afterAll(() => firestore.terminate());

  it("a lead's two awaits (its CRM sync, then its follow-up) share one document: a crm.synced reads and writes one", async () => {
    const store = new FirestoreGapStore(firestore, `${prefix}one`);
    const apply = async (event: object, minutes: number): Promise<FirestoreCounts> => {
      const before = { ...store.counts };
      const e = BusinessEvent.parse(event);
      await store.applyChain(e, T0 + minutes * MIN, T0 + minutes * MIN, undefined, ctx);
      return { reads: store.counts.reads - before.reads, writes: store.counts.writes - before.writes, deletes: store.counts.deletes - before.deletes };
    };
    expect(await apply(cardScanned({ id: 'c1', time: at(0), data: { card_id: 'card-1' } }), 0)).toEqual({ reads: 1, writes: 1, deletes: 0 });
    // The lead satisfies its card's await and opens its own: two documents (card, lead).
    expect(await apply(leadCreated({ id: 'l1', time: at(MIN), data: { card_id: 'card-1', lead_id: 'lead-1' } }), 1)).toEqual({ reads: 2, writes: 2, deletes: 0 });
    // The CRM sync satisfies the lead's first await and opens its second, in the same document.
    expect(await apply(crmSynced({ id: 's1', time: at(2 * MIN), data: { lead_id: 'lead-1' } }), 2)).toEqual({ reads: 1, writes: 1, deletes: 0 });
    expect(await apply(followupSent({ id: 'f1', time: at(3 * MIN), data: { lead_id: 'lead-1' } }), 3)).toEqual({ reads: 1, writes: 1, deletes: 0 });
    // A redelivery reads its document and writes nothing.
    expect(await apply(crmSynced({ id: 's1', time: at(2 * MIN), data: { lead_id: 'lead-1' } }), 2)).toEqual({ reads: 1, writes: 0, deletes: 0 });
    expect((await firestore.collection(`${prefix}one-chains`).get()).size).toBe(2);
  });

  it('reads chain documents written before the layout changed: a waiting lead is satisfied, a waiting card reported once', async () => {
    const chains = firestore.collection(`${prefix}legacy-chains`);
    await chains.doc(legacyId('crm.synced|lead-9')).set(legacyWait('crm.synced|lead-9', 'l9', 'lead.created', T0, T0 + 15 * MIN));
    await chains.doc(legacyId('lead.created|card-9')).set(legacyWait('lead.created|card-9', 'c9', 'card.scanned', T0, T0 + 10 * MIN));
    const clock = { ms: T0 + MIN };
    const { publisher, handler } = detector(new FirestoreGapStore(firestore, `${prefix}legacy`), clock, 'legacy');
    await handler(pushedEvent(TOPICS.unique, JSON.stringify(crmSynced({ id: 's9', source: '//crm', time: at(MIN), data: { lead_id: 'lead-9' } })), 'u-1'));
    clock.ms = T0 + 30 * MIN;
    await handler(pushedEvent(TOPICS.ticks, '{}', 'tick-1'));
    await handler(pushedEvent(TOPICS.ticks, '{}', 'tick-2'));
    expect(publisher.json(TOPICS.findings)).toEqual([
      { kind: 'chain_broken', action: 'reported', event_id: 'c9', type: 'card.scanned', source: '//old', expected_type: 'lead.created' },
    ]);
    // Converted on its first write: nothing of the old layout is left at the top level.
    const lead = (await chains.doc(legacyId('crm.synced|lead-9')).get()).data()!;
    expect(Object.keys(lead).sort()).toEqual(['dueMs', 'expireAt', 'slots']);
  });

  it("a follow-up closes its CRM sync's wait filed in the earlier layout (a document of its own), and reads it only when its lead's document has no such wait", async () => {
    const chains = firestore.collection(`${prefix}legacyfollowup-chains`);
    await chains.doc(legacyId('followup.sent|lead-8')).set(legacyWait('followup.sent|lead-8', 's8', 'crm.synced', T0, T0 + 60 * MIN));
    const clock = { ms: T0 + MIN };
    const store = new FirestoreGapStore(firestore, `${prefix}legacyfollowup`);
    const { publisher, handler } = detector(store, clock, 'legacyfollowup');
    const reads = store.counts.reads;
    await handler(pushedEvent(TOPICS.unique, JSON.stringify(followupSent({ id: 'f8', source: '//msg', time: at(MIN), data: { lead_id: 'lead-8' } })), 'u-1'));
    clock.ms = T0 + 3 * 60 * MIN;
    await handler(pushedEvent(TOPICS.unique, JSON.stringify(leadCreated({ id: 'l7', source: '//crm', time: at(3 * 60 * MIN), data: { lead_id: 'lead-7' } })), 'u-2'));
    await handler(pushedEvent(TOPICS.ticks, '{}', 'tick-1'));
    await handler(pushedEvent(TOPICS.ticks, '{}', 'tick-2'));
    expect(publisher.json(TOPICS.findings)).toEqual([]);
    expect(store.counts.reads).toBeGreaterThan(reads);

    // In the new layout a follow-up finds its wait in its lead's document: one read, one write.
    const fresh = new FirestoreGapStore(firestore, `${prefix}newfollowup`);
    await fresh.applyChain(BusinessEvent.parse(crmSynced({ id: 's6', time: at(0), data: { lead_id: 'lead-6' } })), T0, T0, undefined, ctx);
    const before = { ...fresh.counts };
    await fresh.applyChain(BusinessEvent.parse(followupSent({ id: 'f6', time: at(MIN), data: { lead_id: 'lead-6' } })), T0 + MIN, T0 + MIN, undefined, ctx);
    expect({ reads: fresh.counts.reads - before.reads, writes: fresh.counts.writes - before.writes }).toEqual({ reads: 1, writes: 1 });
  });
});

describe.each(MARKER_STORES)('gap-detector against replay in the emulators, sequence markers and chains in %s', (markers) => {
  const prefix = runPrefix('gapparity');
  const fx = useMarkerLog(markers, prefix);

  it('the same findings as replay on a log with every kind of broken and late chain and gap (the emulator, one instance)', async () => {
    const events = gapStream(1, { numberedMinutes: 20, flows: 60 });
    const text = events.map((e) => JSON.stringify(e)).join('\n') + '\n';
    const replay = await replayText(text, { now: T0 + 24 * 60 * MIN });
    const duplicate = new Set(replay.findings.filter((f) => f.kind === 'duplicate').map((f) => f.line as number));
    const finalWatermark = Date.parse(replay.summary.watermark!);
    const publisher = new MemoryPublisher();
    const handler = gapDetectorHandler({
      publisher,
      store: new FirestoreGapStore(fx.firestore, `${prefix}parity`, fx.marked.log, fx.marked.chains),
      clock: { now: () => finalWatermark + DEFAULT_GAP_DETECTOR_CONFIG.state.allowedLatenessMs },
      config: { ...DEFAULT_GAP_DETECTOR_CONFIG, foldIntervalMs: 0, watermarkStepMs: 0 },
      logger: silentLogger,
      instanceId: 'parity',
    });
    for (const [i, e] of events.entries()) {
      const line = i + 1;
      await handler(duplicate.has(line) ? pushedEvent(TOPICS.duplicates, JSON.stringify(e), `d-${line}`) : pushedEvent(TOPICS.unique, JSON.stringify(e), `u-${line}`));
    }
    await handler(pushedEvent(TOPICS.ticks, '{}', 'tick'));
    const kinds = new Set(['gap', 'late', 'chain_broken']);
    const fromReplay = replay.findings.filter((f) => kinds.has(f.kind as string)).map(({ line: _, ...f }) => f);
    expect(sorted(publisher.json(TOPICS.findings) as object[])).toEqual(sorted(fromReplay));
    expect(fromReplay.filter((f) => f.kind === 'late' && f.closes === 'chain_broken').length).toBeGreaterThan(3);
    expect(fromReplay.filter((f) => f.kind === 'chain_broken').length).toBeGreaterThan(5);
    expect(fromReplay.filter((f) => f.kind === 'gap').length).toBeGreaterThan(0);
  }, 300_000);
});

describe.each(MARKER_STORES)('gap-detector folds in the emulators, sequence markers in %s: what a fold reads and writes', (markers) => {
  const prefix = runPrefix('gapfold');
  const fx = useMarkerLog(markers, prefix);

  it("writes a quiet source's summary once per fold; claims a lease first only where the last fold's batch was big enough to be worth it", async () => {
    const store = new FirestoreGapStore(fx.firestore, `${prefix}fold`, fx.marked.log, fx.marked.chains);
    let next = 1;
    type Counts = FirestoreCounts & { rows: FirestoreCounts };
    const fold = async (source: string, numbers: number): Promise<Counts> => {
      for (let i = 0; i < numbers; i++, next++) {
        await store.recordSequence({ source, seq: String(next), eventId: `e${next}`, type: 'lead.tagged', timeMs: T0 + next, watermarkMs: T0 + next }, ctx);
      }
      const before = { ...store.counts, bigtable: { ...store.counts.bigtable } };
      await store.foldSource(source, T0, ctx, { force: false, minIntervalMs: 0 });
      const { bigtable } = store.counts;
      return {
        reads: store.counts.reads - before.reads,
        writes: store.counts.writes - before.writes,
        deletes: store.counts.deletes - before.deletes,
        rows: { reads: bigtable.reads - before.bigtable.reads, writes: bigtable.writes - before.bigtable.writes, deletes: bigtable.deletes - before.bigtable.deletes },
      };
    };
    // Firestore markers: reads, the summary and each marker; writes, the summary; deletes, the
    // markers. Bigtable markers: the summary is all of Firestore's; the markers are rows read (one
    // scan of the source's prefix) and deleted.
    const expected = (markersRead: number, summaryWrites: number): Counts =>
      markers === 'firestore'
        ? { reads: 1 + markersRead, writes: summaryWrites, deletes: markersRead, rows: { reads: 0, writes: 0, deletes: 0 } }
        : { reads: 1, writes: summaryWrites, deletes: 0, rows: { reads: markersRead, writes: 0, deletes: markersRead } };
    expect(await fold('//quiet', 2)).toEqual(expected(2, 1));
    expect(await fold('//quiet', 2)).toEqual(expected(2, 1));
    const big = FOLD_LEASE_MIN_BATCH + 5;
    expect(await fold('//busy', big)).toEqual(expected(big, 1));
    // After a big batch, the next fold claims the source first (a write) so that concurrent folds stand down before reading the markers.
    expect(await fold('//busy', 3)).toEqual(expected(3, 2));
    expect(await fold('//busy', 3)).toEqual(expected(3, 1));
    const summary = (await fx.firestore.collection(`${prefix}fold-sources`).get()).docs.map((d) => d.data()).find((d) => d.source === '//busy')!;
    expect(summary).toMatchObject({ low: '5', high: String(next - 1), gaps: [], leaseUntilMs: null });
    // The numbers the last fold read are kept only where the markers are removed after the commit.
    expect(summary.applied).toEqual(markers === 'bigtable' ? [String(next - 3), String(next - 2), String(next - 1)] : undefined);
  });
});
