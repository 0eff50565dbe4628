import type { CloudEvent } from '@google-cloud/functions-framework';
import type { Firestore } from '@google-cloud/firestore';
import type { PubSub } from '@google-cloud/pubsub';
import { MemoryPublisher } from '../../shared/adapters/memory-publisher';
import { ensureTopology } from '../../shared/adapters/pubsub-admin';
import { PushGateway } from '../../tools/local/push-gateway';
import { PubSubPublisher } from '../../shared/adapters/pubsub-publisher';
import { silentLogger } from '../../shared/log';
import { topicOf, type MessagePublishedData } from '../../shared/pubsub/push';
import { topology, TOPICS } from '../../shared/topology';
import { NAME } from '../../functions/gap-detector/core';
import { FirestoreGapStore } from '../../functions/gap-detector/firestore-store';
import { DEFAULT_GAP_DETECTOR_CONFIG, gapDetectorHandler, type GapDetectorConfig } from '../../functions/gap-detector/handler';
import { routeOf } from '../../functions/gap-detector/routes';
import { CountingPublisher, emulatorClients, Observer, runPrefix, serveFunction } from '../support/harness';
import { cardScanned, crmSynced, followupSent, leadCreated, leadTagged } from '../support/events';
import { pushedEvent } from '../support/push';
import { eventAttributes, INGEST_ID } from '../../shared/publish';
import { prng } from '../../cli/generate/log';
import { MARKER_STORES, markerLog, useMarkerLog } from '../support/gap-markers';

const T0 = Date.parse('2026-03-01T10:00:00Z');
const MIN = 60_000;
const at = (ms: number) => new Date(T0 + ms).toISOString();
const LATENESS = DEFAULT_GAP_DETECTOR_CONFIG.state.allowedLatenessMs;

/** Polls until `done()` holds (fails after `timeoutMs`): for work the emulator pushes asynchronously. */
async function until(done: () => boolean, what: () => string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const byText = (a: unknown, b: unknown) => JSON.stringify(a).localeCompare(JSON.stringify(b));

describe.each(MARKER_STORES)('gap-detector on the real Pub/Sub and Firestore emulators, sequence markers and chains in %s: both subscriptions and the tick', (markers) => {
  const prefix = runPrefix('gap');
  let pubsub: PubSub;
  let firestore: Firestore;
  let log: Awaited<ReturnType<typeof markerLog>>;
  let close: () => Promise<void>;
  let findings: Observer;
  let retrigger: Observer;
  let publisher: CountingPublisher;
  const clock = { ms: T0 };
  const handled = { sequences: 0, chains: 0, ticks: 0 };

  beforeAll(async () => {
    ({ pubsub, firestore } = emulatorClients());
    log = await markerLog(markers, prefix);
    const config: GapDetectorConfig = {
      ...DEFAULT_GAP_DETECTOR_CONFIG,
      state: { ...DEFAULT_GAP_DETECTOR_CONFIG.state, republish: true },
      foldIntervalMs: 0,
      watermarkStepMs: 0,
      resourcePrefix: prefix,
    };
    publisher = new CountingPublisher(new PubSubPublisher(pubsub, prefix));
    const handler = gapDetectorHandler({
      publisher,
      store: new FirestoreGapStore(firestore, `${prefix}state`, log.log, log.chains),
      clock: { now: () => clock.ms },
      config,
      logger: silentLogger,
      instanceId: 'it-1',
    });
    const served = await serveFunction(NAME, async (ce) => {
      await handler(ce as CloudEvent<MessagePublishedData>);
      const route = routeOf(topicOf(ce.source), prefix);
      if (route) handled[route]++;
    });
    const subscriptions = await ensureTopology(pubsub, topology, {
      prefix,
      only: (s) => s.function === NAME,
    });
    const gateway = await PushGateway.start({ pubsub, prefix, subscriptions, endpoint: (fn) => (fn === NAME ? served.url : undefined) });
    close = async () => {
      await gateway.close();
      await served.close();
    };
    expect(subscriptions.map((s) => [s.name, s.topic, s.deadLetterTopic]).sort()).toEqual([
      ['gap-detector-chains', TOPICS.unique, TOPICS.deadLetters],
      ['gap-detector-sequences', TOPICS.duplicates, TOPICS.deadLetters],
      ['gap-detector-ticks', TOPICS.ticks, TOPICS.deadLetters],
    ]);
    findings = await Observer.on(pubsub, prefix + TOPICS.findings, `${prefix}obs-findings`);
    retrigger = await Observer.on(pubsub, prefix + TOPICS.retrigger, `${prefix}obs-retrigger`);
  });

  afterAll(async () => {
    await Promise.all([findings, retrigger].map((o) => o?.close()));
    await close?.();
    await log?.close();
    await pubsub.close();
    await firestore.terminate();
  });

  it('reports gaps and broken chains when a tick moves the clock on a quiet stream, then the late arrival', async () => {
    const unique = pubsub.topic(prefix + TOPICS.unique);
    const duplicates = pubsub.topic(prefix + TOPICS.duplicates);
    const seq = (id: string, n: number) => leadTagged({ id, source: '//hub', sequence: String(n), time: at(n * 1000), data: { lead_id: `lead-${id}` } });
    const scan = cardScanned({ id: 'c1', source: '//scanner', time: at(0), data: { card_id: 'card-1' } });
    const chainEvents = [
      scan,
      cardScanned({ id: 'c2', source: '//scanner', time: at(1000), data: { card_id: 'card-2' } }),
      leadCreated({ id: 'l2', source: '//crm', time: at(2 * MIN), data: { card_id: 'card-2', lead_id: 'lead-2' } }),
      crmSynced({ id: 's2', source: '//crm', time: at(3 * MIN), data: { lead_id: 'lead-2' } }),
    ];
    // Accepted events through events-unique; a3 sent again, which the deduplicator drops and hands on through events-duplicates.
    for (const e of [seq('a1', 1), seq('a3', 3), seq('a4', 4), seq('a7', 7)]) await unique.publishMessage({ json: e });
    await duplicates.publishMessage({ json: seq('a3', 3) });
    for (const e of chainEvents) await unique.publishMessage({ json: e });
    await until(() => handled.sequences >= 1 && handled.chains >= 8, () => JSON.stringify(handled));
    // Each delivery handled (its publishes done): every finding published by then has arrived.
    const all = (topic: string) => () => publisher.published(topic);
    expect(await findings.complete(() => true, all(TOPICS.findings))).toEqual([]);

    // The producers went quiet. 20 minutes later (wall clock), the scheduler's tick arrives.
    clock.ms = T0 + 20 * MIN;
    await pubsub.topic(prefix + TOPICS.ticks).publishMessage({ json: {} });
    await findings.waitFor(3);
    await retrigger.waitFor(1);
    // The watermark is now 15 minutes: c1 (due after 10) broke; s2 waits for its follow-up until 63.
    expect(findings.messages.map((m) => m.json()).sort(byText)).toEqual(
      [
        { kind: 'gap', action: 'reported', source: '//hub', from_sequence: 2, to_sequence: 2 },
        { kind: 'gap', action: 'reported', source: '//hub', from_sequence: 5, to_sequence: 6 },
        { kind: 'chain_broken', action: 'reported', event_id: 'c1', type: 'card.scanned', source: '//scanner', expected_type: 'lead.created' },
      ].sort(byText),
    );
    expect(retrigger.messages.map((m) => m.json())).toEqual([scan]);
    expect(retrigger.messages[0]!.attributes).toMatchObject({ id: 'c1', type: 'card.scanned', retrigger: 'chain_broken', expected_type: 'lead.created' });

    await unique.publishMessage({ json: seq('a2', 2) });
    await findings.waitFor(4);
    expect(findings.messages[3]!.json()).toEqual({ kind: 'late', action: 'reported', event_id: 'a2', type: 'lead.tagged', source: '//hub', closes: 'gap' });

    // The tick is idempotent: another one reports nothing again.
    await pubsub.topic(prefix + TOPICS.ticks).publishMessage({ json: {} });
    await until(() => handled.ticks >= 2, () => JSON.stringify(handled));
    expect(await findings.complete(() => true, all(TOPICS.findings))).toHaveLength(4);
    expect(await retrigger.complete(() => true, all(TOPICS.retrigger))).toHaveLength(1);
    // The numbers went to the marker log the store was given, and were all folded.
    expect((await firestore.collection(`${prefix}state-markers`).get()).size).toBe(0);
    if (markers === 'bigtable') {
      expect(log.log!.counts.writes).toBeGreaterThanOrEqual(5);
      expect(await log.rows()).toBe(0);
    }
  });

  it('a second copy of an accepted event changes nothing: no chain reopened or reported, no number counted twice', async () => {
    // The deduplicator keeps no mark of its publish: a redelivery of a delivery it forwarded takes
    // its claim over past the lease and publishes it again, the same bytes, the same event id and
    // ingest id, as a new Pub/Sub message. Here the copies come after the chain has closed.
    const unique = pubsub.topic(prefix + TOPICS.unique);
    const from = { source: '//crm-5' };
    const lead = leadCreated({ ...from, id: 'l5', sequence: '1', time: at(16 * MIN), data: { card_id: 'card-5', lead_id: 'lead-5' } });
    const sync = crmSynced({ ...from, id: 's5', sequence: '2', time: at(17 * MIN), data: { lead_id: 'lead-5' } });
    const followup = followupSent({ ...from, id: 'f5', sequence: '3', time: at(18 * MIN), data: { lead_id: 'lead-5' } });
    const send = (e: { id: string; type: string; source: string }) =>
      unique.publishMessage({ data: Buffer.from(JSON.stringify(e)), attributes: eventAttributes(e, { [INGEST_ID]: `raw-${e.id}` }) });
    const chainsBefore = handled.chains;
    for (const e of [lead, sync, followup]) await send(e);
    await until(() => handled.chains >= chainsBefore + 3, () => JSON.stringify(handled), 60_000);
    for (const e of [lead, sync, followup]) await send(e); // the copies
    await until(() => handled.chains >= chainsBefore + 6, () => JSON.stringify(handled), 60_000);

    // Hours later a tick moves the watermark past every deadline: what is still open is reported
    // now, which is s2 of the test before (this test follows it, on the same state) (its follow-up never came, due at 63 minutes) and
    // nothing of these events. Had a copy of l5 reopened its chain, it would be broken here.
    const before = findings.messages.length;
    clock.ms = T0 + 300 * MIN;
    await pubsub.topic(prefix + TOPICS.ticks).publishMessage({ json: {} });
    await findings.waitFor(before + 1, 60_000);
    await until(() => handled.ticks >= 3, () => JSON.stringify(handled), 60_000);
    const all = await findings.complete(() => true, () => publisher.published(TOPICS.findings));
    expect(all.slice(before).map((m) => m.json())).toEqual([
      { kind: 'chain_broken', action: 'reported', event_id: 's2', type: 'crm.synced', source: '//crm', expected_type: 'followup.sent' },
    ]);
    const about = (f: { event_id?: unknown; source?: unknown }) => ['l5', 's5', 'f5'].includes(String(f.event_id)) || f.source === '//crm-5';
    expect(all.map((m) => m.json() as { event_id?: unknown; source?: unknown }).filter(about)).toEqual([]);
  }, 240_000);
});

describe.each(MARKER_STORES)('gap-detector state in the Firestore emulator under concurrent delivery, sequence markers and chains in %s', (markers) => {
  const prefix = runPrefix('gapc');
  const fx = useMarkerLog(markers, prefix);

  it('many deliveries for one source at once, across instances and with redeliveries: the reported gaps are exactly right', async () => {
    const clock = { ms: T0 };
    const publisher = new MemoryPublisher();
    const store = new FirestoreGapStore(fx.firestore, `${prefix}state`, fx.marked.log, fx.marked.chains);
    const config: GapDetectorConfig = { ...DEFAULT_GAP_DETECTOR_CONFIG, foldIntervalMs: 0 };
    // Four function instances: their own pacing and watermark, one database.
    const instances = [0, 1, 2, 3].map((i) =>
      gapDetectorHandler({ publisher, store, clock: { now: () => clock.ms }, config, logger: silentLogger, instanceId: `instance-${i}` }),
    );
    const missing = new Set([17, 18, 100, 255, 256, 257, 399]);
    const numbers = Array.from({ length: 400 }, (_, i) => i + 1).filter((n) => !missing.has(n));
    const event = (n: number, id = `e${n}`) => leadTagged({ id, source: '//busy', sequence: String(n), time: at(n), data: { lead_id: `lead-${n}` } });
    const deliveries = [
      ...numbers.map((n) => event(n)),
      ...numbers.filter((n) => n % 10 === 0).map((n) => event(n)), // redelivered
      ...numbers.filter((n) => n % 37 === 0).map((n) => event(n, `dup-${n}`)), // the producer sent them twice
    ];
    shuffle(deliveries, 7);
    const cloudEvent = (e: object, i: number) => pushedEvent(TOPICS.unique, JSON.stringify(e), `m-${i}`);

    // Pub/Sub redelivers what failed (contention) until it is acked.
    let attempts = 0;
    const deliverAll = async (events: object[]) => {
      let pending = events.map((e, i) => ({ ce: cloudEvent(e, i) }));
      for (let round = 0; pending.length > 0; round++) {
        if (round > 10) throw new Error(`${pending.length} deliveries still failing`);
        attempts += pending.length;
        const results = await Promise.allSettled(pending.map((p, i) => instances[(i + round) % instances.length]!(p.ce)));
        pending = pending.filter((_, i) => results[i]!.status === 'rejected');
      }
    };
    await deliverAll(deliveries);
    expect(publisher.messages).toEqual([]);

    clock.ms = T0 + 5 * MIN + LATENESS + 1000;
    await instances[0]!(tickEvent());
    const gaps = publisher.json(TOPICS.findings);
    expect(gaps.sort(byText)).toEqual(
      [
        { kind: 'gap', action: 'reported', source: '//busy', from_sequence: 17, to_sequence: 18 },
        { kind: 'gap', action: 'reported', source: '//busy', from_sequence: 100, to_sequence: 100 },
        { kind: 'gap', action: 'reported', source: '//busy', from_sequence: 255, to_sequence: 257 },
        { kind: 'gap', action: 'reported', source: '//busy', from_sequence: 399, to_sequence: 399 },
      ].sort(byText),
    );

    // The missing event turns up, five copies at once on different instances: one `late`.
    await deliverAll(Array.from({ length: 5 }, () => event(100)));
    await instances[1]!(tickEvent());
    expect(publisher.json(TOPICS.findings).slice(4)).toEqual([{ kind: 'late', action: 'reported', event_id: 'e100', type: 'lead.tagged', source: '//busy', closes: 'gap' }]);

    // Nothing is left behind: every recorded number folded, every message published and deleted,
    // and the source keeps exactly the reported ranges (100 came late and is no longer missing).
    const collection = (name: string) => fx.firestore.collection(`${prefix}state-${name}`).get();
    expect((await collection('markers')).size).toBe(0);
    if (markers === 'bigtable') expect(await fx.marked.rows()).toBe(0);
    expect((await collection('outbox')).size).toBe(0);
    const sources = (await collection('sources')).docs.map((d) => d.data());
    expect(sources).toEqual([
      expect.objectContaining({
        source: '//busy',
        low: '1',
        high: '400',
        gaps: [
          expect.objectContaining({ from: '17', to: '18', reported: true }),
          expect.objectContaining({ from: '255', to: '257', reported: true }),
          expect.objectContaining({ from: '399', to: '399', reported: true }),
        ],
        nextDueMs: null,
      }),
    ]);
    // What it cost, as billed: each distinct number's marker was written and deleted at least once,
    // each of the five findings went through the outbox; and no delivery attempt wrote more than a
    // marker, its instance's watermark, a fold's claim and its commit (plus the outbox and two ticks).
    // Markers in Bigtable are rows there, not Firestore documents.
    const distinct = numbers.length;
    const { bigtable } = store.counts;
    expect(store.counts.writes + bigtable.writes).toBeGreaterThanOrEqual(distinct + 5);
    expect(store.counts.deletes + bigtable.deletes).toBeGreaterThanOrEqual(distinct + 5);
    expect(store.counts.writes + bigtable.writes).toBeLessThanOrEqual(4 * attempts + 5 + 2 * 50);
    if (markers === 'bigtable') {
      expect(bigtable.writes).toBeGreaterThanOrEqual(distinct);
      expect(store.counts.deletes).toBeLessThan(distinct / 10);
    } else {
      expect(bigtable).toEqual({ reads: 0, writes: 0, deletes: 0 });
    }
  });
});

function tickEvent() {
  return pushedEvent(TOPICS.ticks, '{}', 'tick');
}

/** A deterministic shuffle: the same seed, the same order every run. */
function shuffle<T>(items: T[], seed: number): void {
  const random = prng(seed);
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
}
