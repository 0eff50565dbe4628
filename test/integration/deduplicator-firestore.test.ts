import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { CloudEvent } from '@google-cloud/functions-framework';
import { Firestore } from '@google-cloud/firestore';
import { MemoryPublisher } from '../../shared/adapters/memory-publisher';
import { silentLogger } from '../../shared/log';
import type { MessagePublishedData } from '../../shared/pubsub/push';
import { TOPICS } from '../../shared/topology';
import { deduplicatorHandler } from '../../functions/deduplicator/handler';
import { FirestoreDedupStore } from '../../functions/deduplicator/firestore-state';
import { DEFAULT_DEDUP_CONFIG, dedupKeys } from '../../functions/deduplicator/core';
import { MemoryDedupStore } from '../../functions/deduplicator/state';
import { BusinessEvent } from '../../shared/events/envelope';
import { emulatorClients, runPrefix } from '../support/harness';
import { cardScanned, leadTagged } from '../support/events';
import { pushedEvent } from '../support/push';
import { INGEST_ID } from '../../shared/publish';
import { ensureBuilt } from '../support/build';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const ROOT = join(__dirname, '..', '..');

/**
 * A deduplicator instance (the built store, in a process of its own) that claims an event and is
 * killed (SIGKILL) as soon as its first Firestore call (the read of the keys, or the blind claim
 * of a first arrival) has been answered, transactionally or not: the state a crash in the middle
 * of a claim leaves behind. Arguments: the repository, the collection, the event as JSON, the
 * ingest id.
 */
const DIE_AFTER_FIRST_CALL = `
const [root, collection, eventJson, ingestId] = process.argv.slice(1);
const { Firestore, Transaction, WriteBatch } = require(require.resolve('@google-cloud/firestore', { paths: [root] }));
const die = (method) => async function (...args) {
  await method.apply(this, args);
  process.stderr.write('claimed or read the keys; dying\\n', () => process.kill(process.pid, 'SIGKILL'));
  return new Promise(() => undefined);
};
for (const proto of [Firestore.prototype, Transaction.prototype]) proto.getAll = die(proto.getAll);
WriteBatch.prototype.commit = die(WriteBatch.prototype.commit);
const { FirestoreDedupStore } = require(root + '/dist/functions/deduplicator/firestore-state');
const { dedupKeys, DEFAULT_DEDUP_CONFIG } = require(root + '/dist/functions/deduplicator/core');
const event = JSON.parse(eventJson);
const candidate = { event, timeMs: Date.parse(event.time), ingestId, keys: dedupKeys(event) };
void new FirestoreDedupStore(new Firestore(), collection).judgeAndClaim(candidate, { now: Date.now(), config: DEFAULT_DEDUP_CONFIG });
`;

function cloudEvent(event: object, ingestId: string, messageId: string) {
  return pushedEvent(TOPICS.valid, JSON.stringify(event), messageId, { [INGEST_ID]: ingestId });
}

/**
 * Delivers like Pub/Sub: a delivery that throws (contention the transaction gave up on, a claim
 * in flight) is redelivered, a bounded number of times.
 */
async function deliver(handler: (ce: CloudEvent<MessagePublishedData>) => Promise<void>, ce: CloudEvent<MessagePublishedData>): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      await handler(ce);
      return attempt;
    } catch (err) {
      if (attempt >= 20) throw err;
      await new Promise((r) => setTimeout(r, 50 * attempt));
    }
  }
}

// Contended transactions serialize in the emulator: on a loaded 2-core machine a race of fifty takes a while.
jest.setTimeout(180_000);

describe('deduplicator state in the Firestore emulator under concurrent delivery', () => {
  let firestore: Firestore;
  const prefix = runPrefix('dedupfs');
  let n = 0;

  function setup(now = () => NOW) {
    const publisher = new MemoryPublisher();
    const store = new FirestoreDedupStore(firestore, `${prefix}keys-${n++}`);
    const handler = deduplicatorHandler({ publisher, store, clock: { now }, config: DEFAULT_DEDUP_CONFIG, logger: silentLogger });
    return { publisher, handler };
  }

  beforeAll(() => {
    ensureBuilt();
    ({ firestore } = emulatorClients());
  }, 120_000);
  afterAll(() => firestore.terminate());

  it('fifty concurrent deliveries of one message forward it once within its lease; past the lease a redelivery forwards the same delivery again', async () => {
    let now = NOW;
    const { publisher, handler } = setup(() => now);
    const ce = cloudEvent(cardScanned({ id: 'ev-1' }), 'raw-1', 'v-1');
    const results = await Promise.allSettled(Array.from({ length: 50 }, () => handler(ce)));
    const unique = () => publisher.messages.filter((m) => m.topic === TOPICS.unique);
    expect(unique()).toHaveLength(1);
    // Every other copy found the claim held (IN_FLIGHT, answered 500 and redelivered), whether it
    // ran before or after the winner's publish: no mark tells the two apart.
    const rejected = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as { code?: unknown }).code] : []));
    expect(rejected).toEqual(Array.from({ length: 49 }, () => 'IN_FLIGHT'));
    // Their redeliveries within the lease wait again; the first past it takes the claim over and
    // publishes the same delivery again: the same bytes, the same event id and ingest id, which is
    // at-least-once publishing (tools/load/compare.ts counts it apart from a double).
    await expect(handler(ce)).rejects.toMatchObject({ code: 'IN_FLIGHT' });
    now += DEFAULT_DEDUP_CONFIG.leaseMs + 1;
    await handler(ce);
    await expect(handler(ce)).rejects.toMatchObject({ code: 'IN_FLIGHT' }); // the takeover's own lease
    const [first, again] = unique();
    expect(again).toEqual({ ...first, id: expect.any(String) });
    expect(again!.attributes).toMatchObject({ id: 'ev-1', ingest_id: 'raw-1' });
    expect(publisher.messages).toHaveLength(2);
  });

  it('fifty producers sending one event concurrently: one forward, forty-nine duplicate findings naming it', async () => {
    const { publisher, handler } = setup();
    const event = cardScanned({ id: 'ev-2' });
    await Promise.all(Array.from({ length: 50 }, (_, i) => deliver(handler, cloudEvent(event, `raw-${i}`, `v-${i}`))));
    expect(publisher.json(TOPICS.unique)).toEqual([expect.objectContaining({ id: 'ev-2' })]);
    const findings = publisher.json(TOPICS.findings);
    expect(findings).toHaveLength(49);
    expect(new Set(findings.map((f) => JSON.stringify(f)))).toEqual(
      new Set([JSON.stringify({ kind: 'duplicate', action: 'dropped', event_id: 'ev-2', type: 'card.scanned', source: '//test/producer', duplicate_of: 'ev-2', basis: 'id' })]),
    );
  });

  it('twenty events racing for one business key: exactly one is accepted and the others name it', async () => {
    const { publisher, handler } = setup();
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => deliver(handler, cloudEvent(cardScanned({ id: `ev-${i}`, data: { card_id: 'card-x', scanned_by: `u${i}` } }), `raw-${i}`, `v-${i}`))),
    );
    const forwarded = publisher.json(TOPICS.unique) as Array<{ id: string }>;
    expect(forwarded).toHaveLength(1);
    const findings = publisher.json(TOPICS.findings) as Array<{ basis: string; duplicate_of: string }>;
    expect(findings).toHaveLength(19);
    expect(findings.every((f) => f.basis === 'business_key' && f.duplicate_of === forwarded[0]!.id)).toBe(true);
  });

  it('an instance killed in the middle of its claim holds nothing: once its lease is over, the redelivery and the duplicate copy are judged at their first delivery', () => {
    // The fault-injection suite lost a "same id" finding, or an event, this way: an instance
    // killed while claiming inside a Firestore transaction left the keys locked (the emulator
    // keeps a dead transaction's locks about 60 s), and every delivery of that event and of its
    // duplicate copy failed with ABORTED "Transaction lock timeout" until it was dead-lettered.
    const event = cardScanned({ id: 'ev-4' });
    const collection = `${prefix}keys-${n}`;
    // The dead instance claimed on its own wall clock; the redelivery comes once that claim's lease is over.
    const { publisher, handler } = setup(() => Date.now() + DEFAULT_DEDUP_CONFIG.leaseMs + 1);
    const died = spawnSync(process.execPath, ['-e', DIE_AFTER_FIRST_CALL, ROOT, collection, JSON.stringify(event), 'raw-original'], { cwd: ROOT, encoding: 'utf8' });
    expect({ signal: died.signal, stderr: died.stderr }).toEqual({ signal: 'SIGKILL', stderr: 'claimed or read the keys; dying\n' });
    return (async () => {
      await handler(cloudEvent(event, 'raw-original', 'v-original'));
      await handler(cloudEvent(event, 'raw-copy', 'v-copy'));
      expect(publisher.json(TOPICS.unique)).toEqual([expect.objectContaining({ id: 'ev-4' })]);
      expect(publisher.json(TOPICS.findings)).toEqual([
        { kind: 'duplicate', action: 'dropped', event_id: 'ev-4', type: 'card.scanned', source: '//test/producer', duplicate_of: 'ev-4', basis: 'id' },
      ]);
    })();
  });

  it('claims a first arrival with one commit and no read, and writes nothing after its publish; a duplicate is read only after its claim fails', async () => {
    // The RPCs a client sends, seen at its gRPC call hook (as tools/cost/meter.ts counts them).
    const calls: string[] = [];
    const counted = new Firestore({ 'grpc.callInvocationTransformer': (props: { methodDefinition: { path: string } }) => (calls.push(props.methodDefinition.path.replace('/google.firestore.v1.Firestore/', '')), props) });
    try {
      const publisher = new MemoryPublisher();
      const store = new FirestoreDedupStore(counted, `${prefix}keys-${n++}`);
      const handler = deduplicatorHandler({ publisher, store, clock: { now: () => NOW }, config: DEFAULT_DEDUP_CONFIG, logger: silentLogger });
      await handler(cloudEvent(cardScanned({ id: 'ev-5' }), 'raw-5', 'v-5'));
      expect(calls).toEqual(['Commit']); // the claim of every key; no mark after the publish
      calls.length = 0;
      await handler(cloudEvent(cardScanned({ id: 'ev-5' }), 'raw-5b', 'v-5b'));
      expect(calls).toEqual(['Commit', 'BatchGetDocuments']); // the claim fails on an existing key; the read judges
      expect(publisher.json(TOPICS.unique)).toEqual([expect.objectContaining({ id: 'ev-5' })]);
      expect(publisher.json(TOPICS.findings)).toEqual([expect.objectContaining({ kind: 'duplicate', event_id: 'ev-5', basis: 'id', duplicate_of: 'ev-5' })]);
    } finally {
      await counted.terminate();
    }
  });

  it('claims a first arrival with a business key as two documents: its content key lives in the business key document', async () => {
    // Firestore bills each document a commit writes (https://cloud.google.com/firestore/pricing):
    // the writes of each Commit, as tools/cost/meter.ts counts them.
    const writes: number[] = [];
    const counted = new Firestore({
      'grpc.callInvocationTransformer': (props: { methodDefinition: { path: string }; argument?: { writes?: unknown[] } }) => {
        if (props.methodDefinition.path.endsWith('/Commit')) writes.push(props.argument?.writes?.length ?? 0);
        return props;
      },
    });
    try {
      const publisher = new MemoryPublisher();
      const store = new FirestoreDedupStore(counted, `${prefix}keys-${n++}`);
      const handler = deduplicatorHandler({ publisher, store, clock: { now: () => NOW }, config: DEFAULT_DEDUP_CONFIG, logger: silentLogger });
      await handler(cloudEvent(cardScanned({ id: 'ev-6' }), 'raw-6', 'v-6'));
      expect(writes).toEqual([2]); // id and business key
      writes.length = 0;
      await handler(cloudEvent(leadTagged({ id: 'ev-7' }), 'raw-7', 'v-7'));
      expect(writes).toEqual([2]); // no business key: id and content
      writes.length = 0;
      // Its exact copy under another id is still a content duplicate... of the business key first (DESIGN §3 order).
      await handler(cloudEvent(cardScanned({ id: 'ev-6b' }), 'raw-6b', 'v-6b'));
      await handler(cloudEvent(leadTagged({ id: 'ev-7b' }), 'raw-7b', 'v-7b'));
      expect(publisher.json(TOPICS.findings)).toEqual([
        expect.objectContaining({ event_id: 'ev-6b', basis: 'business_key', duplicate_of: 'ev-6' }),
        expect.objectContaining({ event_id: 'ev-7b', basis: 'content', duplicate_of: 'ev-7' }),
      ]);
    } finally {
      await counted.terminate();
    }
  });

  it('judges as replay does when a business key changes hands beyond the window: the earlier holder keeps its content key', async () => {
    // a at T0; b, the same card 8 days later (beyond the 7-day window): accepted, and it takes
    // the card's business key over; then c, an exact copy of a under another id, and d, of b.
    // The business key now names b, 8 days away from c: c is a content duplicate of a.
    const at = (days: number) => new Date(Date.parse('2026-03-01T10:00:00Z') + days * 86_400_000).toISOString().replace('.000Z', 'Z');
    const stream = [
      ['a', cardScanned({ id: 'a', time: at(0) })],
      ['b', cardScanned({ id: 'b', time: at(8), data: { scanned_by: 'user-2' } })],
      ['c', cardScanned({ id: 'c', time: at(0) })],
      ['d', cardScanned({ id: 'd', time: at(8), data: { scanned_by: 'user-2' } })],
      ['e', cardScanned({ id: 'e', time: at(8), data: { scanned_by: 'user-3' } })],
    ] as const;
    const now = Date.parse(at(9));
    const { publisher, handler } = setup(() => now);
    for (const [id, event] of stream) await handler(cloudEvent(event, `raw-${id}`, `v-${id}`));
    // Replay's state (the same core, in memory) over the same stream.
    const memory = new MemoryDedupStore();
    const expected = stream.map(([id, raw]) => {
      const event = BusinessEvent.parse(raw);
      return memory.judgeAndClaimSync({ event, timeMs: Date.parse(event.time), ingestId: `raw-${id}`, keys: dedupKeys(event) }, { now, config: DEFAULT_DEDUP_CONFIG });
    });
    expect(expected.map((j) => j.kind)).toEqual(['accept', 'accept', 'duplicate', 'duplicate', 'duplicate']);
    expect((publisher.json(TOPICS.unique) as Array<{ id: string }>).map((e) => e.id)).toEqual(['a', 'b']);
    expect((publisher.json(TOPICS.findings) as Array<{ event_id: string; basis: string; duplicate_of: string }>).map((f) => [f.event_id, f.basis, f.duplicate_of])).toEqual(
      expected.flatMap((j, i) => (j.kind === 'duplicate' ? [[stream[i]![0], j.basis, j.duplicateOf]] : [])),
    );
    expect(expected.filter((j) => j.kind === 'duplicate')).toEqual([
      { kind: 'duplicate', basis: 'content', duplicateOf: 'a' },
      { kind: 'duplicate', basis: 'business_key', duplicateOf: 'b' },
      { kind: 'duplicate', basis: 'business_key', duplicateOf: 'b' },
    ]);
  });

  it('a crash between recording the key and publishing does not lose the event', async () => {
    let now = NOW;
    const { publisher, handler } = setup(() => now);
    const ce = cloudEvent(cardScanned({ id: 'ev-3' }), 'raw-3', 'v-3');
    const original = publisher.publish.bind(publisher);
    publisher.publish = async () => Promise.reject(new Error('instance died'));
    await expect(handler(ce)).rejects.toThrow('instance died');
    publisher.publish = original;
    await expect(handler(ce)).rejects.toMatchObject({ code: 'IN_FLIGHT' });
    now += DEFAULT_DEDUP_CONFIG.leaseMs + 1;
    await handler(ce);
    expect(publisher.json(TOPICS.unique)).toEqual([expect.objectContaining({ id: 'ev-3' })]);
  });
});
