import { PubSub } from '@google-cloud/pubsub';
import { Firestore } from '@google-cloud/firestore';
import { ensureTopology } from '../../shared/adapters/pubsub-admin';
import { PushGateway } from '../../tools/local/push-gateway';
import { PubSubPublisher } from '../../shared/adapters/pubsub-publisher';
import { silentLogger } from '../../shared/log';
import { topology, TOPICS } from '../../shared/topology';
import { deduplicatorHandler } from '../../functions/deduplicator/handler';
import { FirestoreDedupStore } from '../../functions/deduplicator/firestore-state';
import { BigtableDedupStore, DEDUP_TABLE } from '../../functions/deduplicator/bigtable-state';
import { bigtableInstance, ensureTables } from '../../shared/adapters/bigtable';
import { DEFAULT_DEDUP_CONFIG } from '../../functions/deduplicator/core';
import { CountingPublisher, emulatorClients, handledCount, Observer, runPrefix, serveFunction } from '../support/harness';
import { cardScanned, saleRecorded } from '../support/events';

const NOW = Date.parse('2026-03-01T12:00:00Z');

describe.each(['firestore', 'bigtable'] as const)('the deduplicator, validating events-raw, across the real Pub/Sub emulator, the deduplicator on %s', (store) => {
  const prefix = runPrefix(`vd${store === 'firestore' ? 'fs' : 'bt'}`);
  const instance = bigtableInstance('event-recovery-test');
  let pubsub: PubSub;
  let firestore: Firestore;
  const closers: Array<() => Promise<void>> = [];
  let unique: Observer;
  let invalid: Observer;
  let findings: Observer;
  let publisher: CountingPublisher;
  let gateway: PushGateway;

  beforeAll(async () => {
    ({ pubsub, firestore } = emulatorClients());
    publisher = new CountingPublisher(new PubSubPublisher(pubsub, prefix));
    const clock = { now: () => NOW };
    const dedupStore = async () => {
      if (store === 'firestore') return new FirestoreDedupStore(firestore, `${prefix}dedup`);
      await ensureTables(instance, [{ table: `${prefix}dedup`, families: DEDUP_TABLE.families }]);
      return new BigtableDedupStore(instance, `${prefix}dedup`);
    };
    const deduplicator = await serveFunction(
      'deduplicator',
      deduplicatorHandler({
        publisher,
        store: await dedupStore(),
        clock,
        config: DEFAULT_DEDUP_CONFIG,
        validation: { maxFutureMs: 300_000 },
        logger: silentLogger,
      }) as never,
    );
    closers.push(deduplicator.close);
    const urls: Record<string, string> = { deduplicator: deduplicator.url };
    const subscriptions = await ensureTopology(pubsub, topology, {
      prefix,
      only: (s) => s.function === 'deduplicator',
    });
    gateway = await PushGateway.start({ pubsub, prefix, subscriptions, endpoint: (fn) => urls[fn] });
    closers.unshift(() => gateway.close());
    unique = await Observer.on(pubsub, prefix + TOPICS.unique, `${prefix}obs-unique`);
    invalid = await Observer.on(pubsub, prefix + TOPICS.invalid, `${prefix}obs-invalid`);
    findings = await Observer.on(pubsub, prefix + TOPICS.findings, `${prefix}obs-findings`);
  });

  afterAll(async () => {
    await Promise.all([unique, invalid, findings].map((o) => o?.close()));
    for (const close of closers) await close();
    await pubsub.close();
    await firestore.terminate();
    await instance.bigtable.close();
  });

  it('forwards first arrivals once, reports duplicates and routes invalid events with their errors', async () => {
    const raw = pubsub.topic(prefix + TOPICS.raw);
    const first = cardScanned({ id: 'ev-1', data: { card_id: 'card-1' } });
    const sameId = first;
    const sameCard = cardScanned({ id: 'ev-2', data: { card_id: 'card-1' } });
    const sale = saleRecorded({ id: 'ev-3' });
    const broken = { ...saleRecorded({ id: 'ev-4' }), data: { order_id: 'o-4' } };
    for (const e of [first, sale]) await raw.publishMessage({ json: e });
    await unique.waitFor(2);
    for (const e of [sameId, sameCard, broken]) await raw.publishMessage({ json: e });
    await raw.publishMessage({ data: Buffer.from('{not json') });

    await findings.waitFor(4);
    await invalid.waitFor(2);
    // Every message handled (a handler publishes before it answers), and all it published here arrived.
    const handled = () => handledCount(gateway.stats('deduplicator-events-raw')) === 6;
    const settled = await unique.complete(handled, () => publisher.published(TOPICS.unique));
    expect(settled.map((m) => (m.json() as { id: string }).id).sort()).toEqual(['ev-1', 'ev-3']);
    expect(settled.find((m) => m.attributes.id === 'ev-3')?.attributes).toMatchObject({ type: 'sale.recorded', id: 'ev-3' });

    const byKind = (kind: string) => findings.messages.map((m) => m.json() as Record<string, unknown>).filter((f) => f.kind === kind);
    expect(byKind('duplicate')).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ event_id: 'ev-1', duplicate_of: 'ev-1', basis: 'id', action: 'dropped' }),
        expect.objectContaining({ event_id: 'ev-2', duplicate_of: 'ev-1', basis: 'business_key', action: 'dropped' }),
      ]),
    );
    expect(byKind('invalid')).toHaveLength(2);
    const records = invalid.messages.map((m) => m.json() as { errors: Array<{ path: string; message: string }>; message: { data: string } });
    const brokenRecord = records.find((r) => r.errors.some((e) => e.path === 'data.line_items'));
    expect(brokenRecord).toBeDefined();
    expect(JSON.parse(Buffer.from(brokenRecord!.message.data, 'base64').toString())).toMatchObject({ id: 'ev-4' });
    expect(records.some((r) => r.errors.some((e) => /not valid JSON/.test(e.message)))).toBe(true);
  });
});
