import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { CloudEvent } from '@google-cloud/functions-framework';
import { Firestore } from '@google-cloud/firestore';
import type { Instance } from '@google-cloud/bigtable';
import { bigtableInstance, ensureTables } from '../../shared/adapters/bigtable';
import { MemoryPublisher } from '../../shared/adapters/memory-publisher';
import { TransientError } from '../../shared/errors';
import { silentLogger } from '../../shared/log';
import type { MessagePublishedData } from '../../shared/pubsub/push';
import { TOPICS } from '../../shared/topology';
import { deduplicatorHandler } from '../../functions/deduplicator/handler';
import { FirestoreDedupStore } from '../../functions/deduplicator/firestore-state';
import { BigtableDedupStore, DEDUP_TABLE } from '../../functions/deduplicator/bigtable-state';
import { DEFAULT_DEDUP_CONFIG, dedupKeys, type Candidate, type Judgement } from '../../functions/deduplicator/core';
import { MemoryDedupStore, type DedupStore } from '../../functions/deduplicator/state';
import { BusinessEvent } from '../../shared/events/envelope';
import { emulatorClients, runPrefix } from '../support/harness';
import { cardScanned, leadTagged } from '../support/events';
import { pushedEvent } from '../support/push';
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

/** An events-raw delivery: its message id is the ingest id the deduplicator claims under. */
function cloudEvent(event: object, messageId: string) {
  return pushedEvent(TOPICS.raw, JSON.stringify(event), messageId, {});
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



/** A Bigtable instance on the emulator the integration setup started (any instance id answers there). */
const BIGTABLE_INSTANCE = 'event-recovery-test';

/**
 * A deduplicator instance (the built Bigtable store, in a process of its own) that claims an event
 * and is killed (SIGKILL) by the fault point after its Nth key is claimed pending (FAULT_INJECT
 * `mid-claim:N`, as the fault suite arms it): the state a crash in the middle of a claim leaves.
 * Arguments: the repository, the table, the event as JSON, the ingest id, N.
 */
const DIE_MID_CLAIM = `
const [root, table, eventJson, ingestId, pass] = process.argv.slice(1);
const { armFaults } = require(root + '/dist/shared/fault-inject');
const { bigtableInstance } = require(root + '/dist/shared/adapters/bigtable');
const { BigtableDedupStore } = require(root + '/dist/functions/deduplicator/bigtable-state');
const { dedupKeys, DEFAULT_DEDUP_CONFIG } = require(root + '/dist/functions/deduplicator/core');
armFaults('deduplicator:mid-claim:' + pass, 'deduplicator', undefined);
const event = JSON.parse(eventJson);
const candidate = { event, timeMs: Date.parse(event.time), ingestId, keys: dedupKeys(event) };
void new BigtableDedupStore(bigtableInstance('${BIGTABLE_INSTANCE}'), table).judgeAndClaim(candidate, { now: Date.now(), config: DEFAULT_DEDUP_CONFIG });
`;

function candidateOf(raw: object, ingestId: string): Candidate {
  const event = BusinessEvent.parse(JSON.parse(JSON.stringify(raw)));
  return { event, timeMs: Date.parse(event.time), ingestId, keys: dedupKeys(event) };
}

/** Replay's judgements (the same core, in memory) over a stream of `[name, event]`, each delivered as `raw-<name>`. */
function replayed(stream: ReadonlyArray<readonly [string, unknown]>, now: number): Judgement[] {
  const memory = new MemoryDedupStore();
  return stream.map(([id, raw]) => {
    const event = BusinessEvent.parse(raw);
    return memory.judgeAndClaimSync({ event, timeMs: Date.parse(event.time), ingestId: `raw-${id}`, keys: dedupKeys(event) }, { now, config: DEFAULT_DEDUP_CONFIG });
  });
}

/** judgeAndClaim as a delivery that Pub/Sub redelivers while it throws a TransientError. */
async function judged(store: DedupStore, candidate: Candidate, now: number): Promise<Judgement> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await store.judgeAndClaim(candidate, { now, config: DEFAULT_DEDUP_CONFIG });
    } catch (err) {
      if (!(err instanceof TransientError) || attempt >= 40) throw err;
      await new Promise((r) => setTimeout(r, 20 * attempt));
    }
  }
}

/** The orders of `items` (a group of up to five deliveries has at most 120). */
function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [items.slice()];
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
}

/**
 * Groups of deliveries that share keys in every combination, each group's keys its own (the round
 * in every id and key). `before` is accepted, one after the other, before the group races.
 */
function raceGroups(round: number): Array<{ name: string; before: Candidate[]; racing: Candidate[] }> {
  const r = `r${round}`;
  const tagged = (id: string, tags: string[]) => leadTagged({ id, data: { lead_id: `lead-${r}`, tags } });
  const card = (id: string, cardId: string, by = 'user-1') => cardScanned({ id, data: { card_id: `${cardId}-${r}`, scanned_by: by } });
  return [
    { name: 'one event from three producers (same id, same content)', before: [], racing: [1, 2, 3].map((i) => candidateOf(tagged(`same-${r}`, ['a']), `${r}-same-${i}`)) },
    { name: 'same id, different content', before: [], racing: ['a', 'b', 'c'].map((t) => candidateOf(tagged(`id-${r}`, [`id-${t}`]), `${r}-id-${t}`)) },
    { name: 'different ids, same content', before: [], racing: ['a', 'b', 'c'].map((t) => candidateOf(tagged(`content-${r}-${t}`, ['content']), `${r}-content-${t}`)) },
    { name: 'one business key', before: [], racing: ['a', 'b', 'c'].map((t) => candidateOf(card(`bk-${r}-${t}`, 'card-bk', `user-${t}`), `${r}-bk-${t}`)) },
    {
      // X accepted; Y (X's content under id b) is X's duplicate; Z (id b, other content) must be
      // accepted whether it runs before Y (then Y is Z's duplicate by id) or after (Y claimed b, then gave it back).
      name: 'Z with the id of a dropped content duplicate',
      before: [candidateOf(tagged(`x-${r}`, ['xy']), `${r}-x`)],
      racing: [candidateOf(tagged(`y-${r}`, ['xy']), `${r}-y`), candidateOf(tagged(`y-${r}`, ['z']), `${r}-z`)],
    },
    {
      name: 'a chain: A~B by content, B~C by id, C~D by content',
      before: [],
      racing: [
        candidateOf(tagged(`ca-${r}`, ['chain-1']), `${r}-ca`),
        candidateOf(tagged(`cb-${r}`, ['chain-1']), `${r}-cb`),
        candidateOf(tagged(`cb-${r}`, ['chain-2']), `${r}-cc`),
        candidateOf(tagged(`cd-${r}`, ['chain-2']), `${r}-cd`),
      ],
    },
    {
      name: 'business keys and ids crossed: P~Q by id, Q~R~S by business key (R~S by content too)',
      before: [],
      racing: [
        candidateOf(card(`p-${r}`, 'card-p'), `${r}-p`),
        candidateOf(card(`p-${r}`, 'card-q'), `${r}-q`),
        candidateOf(card(`s-${r}`, 'card-q', 'user-2'), `${r}-r`),
        candidateOf(card(`s2-${r}`, 'card-q', 'user-2'), `${r}-s`),
      ],
    },
  ];
}

// Contended claims wait on each other, and on a loaded 2-core machine a race of fifty takes a while.
jest.setTimeout(240_000);

describe.each(['firestore', 'bigtable'] as const)('deduplicator state (%s) under concurrent delivery', (kind) => {
  let firestore: Firestore;
  let instance: Instance;
  const prefix = runPrefix(`dedup${kind === 'firestore' ? 'fs' : 'bt'}`);
  let n = 0;

  async function makeStore(): Promise<DedupStore> {
    const name = `${prefix}keys-${n++}`;
    if (kind === 'firestore') return new FirestoreDedupStore(firestore, name);
    await ensureTables(instance, [{ table: name, families: DEDUP_TABLE.families }]);
    return new BigtableDedupStore(instance, name);
  }

  async function setup(now = () => NOW) {
    const publisher = new MemoryPublisher();
    const store = await makeStore();
    const handler = deduplicatorHandler({ publisher, store, clock: { now }, config: DEFAULT_DEDUP_CONFIG, validation: { maxFutureMs: 300_000 }, logger: silentLogger });
    return { publisher, handler };
  }

  beforeAll(() => {
    ({ firestore } = emulatorClients());
    instance = bigtableInstance(BIGTABLE_INSTANCE);
  });
  afterAll(async () => {
    await firestore.terminate();
    await instance.bigtable.close();
  });

  it('fifty concurrent deliveries of one message forward it once within its lease; past the lease a redelivery forwards the same delivery again', async () => {
    let now = NOW;
    const { publisher, handler } = await setup(() => now);
    const ce = cloudEvent(cardScanned({ id: 'ev-1' }), 'raw-1');
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
    const { publisher, handler } = await setup();
    const event = cardScanned({ id: 'ev-2' });
    await Promise.all(Array.from({ length: 50 }, (_, i) => deliver(handler, cloudEvent(event, `raw-${i}`))));
    expect(publisher.json(TOPICS.unique)).toEqual([expect.objectContaining({ id: 'ev-2' })]);
    const findings = publisher.json(TOPICS.findings);
    expect(findings).toHaveLength(49);
    expect(new Set(findings.map((f) => JSON.stringify(f)))).toEqual(
      new Set([JSON.stringify({ kind: 'duplicate', action: 'dropped', event_id: 'ev-2', type: 'card.scanned', source: '//test/producer', duplicate_of: 'ev-2', basis: 'id' })]),
    );
  });

  it('twenty events racing for one business key: exactly one is accepted and the others name it', async () => {
    const { publisher, handler } = await setup();
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => deliver(handler, cloudEvent(cardScanned({ id: `ev-${i}`, data: { card_id: 'card-x', scanned_by: `u${i}` } }), `raw-${i}`))),
    );
    const forwarded = publisher.json(TOPICS.unique) as Array<{ id: string }>;
    expect(forwarded).toHaveLength(1);
    const findings = publisher.json(TOPICS.findings) as Array<{ basis: string; duplicate_of: string }>;
    expect(findings).toHaveLength(19);
    expect(findings.every((f) => f.basis === 'business_key' && f.duplicate_of === forwarded[0]!.id)).toBe(true);
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
    const { publisher, handler } = await setup(() => now);
    for (const [id, event] of stream) await handler(cloudEvent(event, `raw-${id}`));
    const expected = replayed(stream, now);
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

  it('judges as replay does when an id changes hands beyond the window: the earlier holder keeps its business key', async () => {
    // a at T0; b, a's id with another card 8 days later (beyond the 7-day window): accepted, and it
    // takes a's id key over. Then c, a's card scanned by someone else an hour after a: a duplicate of
    // a by business key. (On Bigtable a's card row was left pending, naming a's id row as its
    // primary, which now holds b's claim: a's commit must still be found there.)
    const at = (hours: number) => new Date(Date.parse('2026-03-01T10:00:00Z') + hours * 3_600_000).toISOString().replace('.000Z', 'Z');
    const stream = [
      ['a', cardScanned({ id: 'a', time: at(0), data: { card_id: 'card-a' } })],
      ['b', cardScanned({ id: 'a', time: at(8 * 24), data: { card_id: 'card-b', scanned_by: 'user-2' } })],
      ['c', cardScanned({ id: 'c', time: at(1), data: { card_id: 'card-a', scanned_by: 'user-3' } })],
    ] as const;
    const now = Date.parse(at(9 * 24));
    const { publisher, handler } = await setup(() => now);
    for (const [id, event] of stream) await handler(cloudEvent(event, `raw-${id}`));
    const expected = replayed(stream, now);
    expect(expected).toEqual([
      { kind: 'accept', takeover: false },
      { kind: 'accept', takeover: false },
      { kind: 'duplicate', basis: 'business_key', duplicateOf: 'a' },
    ]);
    expect((publisher.json(TOPICS.unique) as Array<{ id: string; time: string }>).map((e) => [e.id, e.time])).toEqual([
      ['a', at(0)],
      ['a', at(8 * 24)],
    ]);
    expect((publisher.json(TOPICS.findings) as Array<{ event_id: string; basis: string; duplicate_of: string }>).map((f) => [f.event_id, f.basis, f.duplicate_of])).toEqual([['c', 'business_key', 'a']]);
  });

  it('a crash between recording the key and publishing does not lose the event', async () => {
    let now = NOW;
    const { publisher, handler } = await setup(() => now);
    const ce = cloudEvent(cardScanned({ id: 'ev-3' }), 'raw-3');
    const original = publisher.publish.bind(publisher);
    publisher.publish = async () => Promise.reject(new Error('instance died'));
    await expect(handler(ce)).rejects.toThrow('instance died');
    publisher.publish = original;
    await expect(handler(ce)).rejects.toMatchObject({ code: 'IN_FLIGHT' });
    now += DEFAULT_DEDUP_CONFIG.leaseMs + 1;
    await handler(ce);
    expect(publisher.json(TOPICS.unique)).toEqual([expect.objectContaining({ id: 'ev-3' })]);
  });

  it('deliveries sharing keys in every combination, racing round after round: each group judged as the sequential store judges some order of it', async () => {
    const ROUNDS = 6;
    const store = await makeStore();
    const outcomes: Array<ReturnType<typeof raceGroups>[number] & { round: number; results: Judgement[] }> = [];
    for (let round = 0; round < ROUNDS; round++) {
      const groups = raceGroups(round);
      for (const g of groups) for (const c of g.before) expect(await judged(store, c, NOW)).toEqual({ kind: 'accept', takeover: false });
      const results = await Promise.all(groups.map((g) => Promise.all(g.racing.map((c) => judged(store, c, NOW)))));
      outcomes.push(...groups.map((g, i) => ({ ...g, round, results: results[i]! })));
    }
    for (const { name, round, before, racing, results } of outcomes) {
      // Some order of the group through the sequential store (replay's rules) gives exactly these judgements.
      const explained = permutations(racing.map((c, i) => i)).some((order) => {
        const memory = new MemoryDedupStore();
        for (const c of before) memory.judgeAndClaimSync(c, { now: NOW, config: DEFAULT_DEDUP_CONFIG });
        const seq: Judgement[] = [];
        for (const i of order) seq[i] = memory.judgeAndClaimSync(racing[i]!, { now: NOW, config: DEFAULT_DEDUP_CONFIG });
        return JSON.stringify(seq) === JSON.stringify(results);
      });
      expect({ group: name, round, results, explained }).toEqual({ group: name, round, results, explained: true });
    }
    // What holds in every order: one accepted per group of one key, and Z accepted (not lost with Y).
    const accepted = (name: string) => outcomes.filter((o) => o.name === name).map((o) => o.results.filter((j) => j.kind === 'accept').length);
    for (const name of ['one event from three producers (same id, same content)', 'same id, different content', 'different ids, same content', 'one business key']) {
      expect({ name, accepted: accepted(name) }).toEqual({ name, accepted: Array.from({ length: ROUNDS }, () => 1) });
    }
    const zCase = outcomes.filter((o) => o.name.startsWith('Z with'));
    expect(zCase.map((o) => o.results.map((j) => j.kind))).toEqual(Array.from({ length: ROUNDS }, () => ['duplicate', 'accept']));
  });
});

describe('deduplicator state in the Firestore emulator: one atomic batch', () => {
  let firestore: Firestore;
  const prefix = runPrefix('dedupfs1');
  let n = 0;

  function setup(now = () => NOW) {
    const publisher = new MemoryPublisher();
    const store = new FirestoreDedupStore(firestore, `${prefix}keys-${n++}`);
    const handler = deduplicatorHandler({ publisher, store, clock: { now }, config: DEFAULT_DEDUP_CONFIG, validation: { maxFutureMs: 300_000 }, logger: silentLogger });
    return { publisher, handler };
  }

  beforeAll(() => {
    ensureBuilt();
    ({ firestore } = emulatorClients());
  }, 120_000);
  afterAll(() => firestore.terminate());

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
      await handler(cloudEvent(event, 'raw-original'));
      await handler(cloudEvent(event, 'raw-copy'));
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
      const handler = deduplicatorHandler({ publisher, store, clock: { now: () => NOW }, config: DEFAULT_DEDUP_CONFIG, validation: { maxFutureMs: 300_000 }, logger: silentLogger });
      await handler(cloudEvent(cardScanned({ id: 'ev-5' }), 'raw-5'));
      expect(calls).toEqual(['Commit']); // the claim of every key; no mark after the publish
      calls.length = 0;
      await handler(cloudEvent(cardScanned({ id: 'ev-5' }), 'raw-5b'));
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
      const handler = deduplicatorHandler({ publisher, store, clock: { now: () => NOW }, config: DEFAULT_DEDUP_CONFIG, validation: { maxFutureMs: 300_000 }, logger: silentLogger });
      await handler(cloudEvent(cardScanned({ id: 'ev-6' }), 'raw-6'));
      expect(writes).toEqual([2]); // id and business key
      writes.length = 0;
      await handler(cloudEvent(leadTagged({ id: 'ev-7' }), 'raw-7'));
      expect(writes).toEqual([2]); // no business key: id and content
      writes.length = 0;
      // Its exact copy under another id is still a content duplicate... of the business key first (DESIGN §3 order).
      await handler(cloudEvent(cardScanned({ id: 'ev-6b' }), 'raw-6b'));
      await handler(cloudEvent(leadTagged({ id: 'ev-7b' }), 'raw-7b'));
      expect(publisher.json(TOPICS.findings)).toEqual([
        expect.objectContaining({ event_id: 'ev-6b', basis: 'business_key', duplicate_of: 'ev-6' }),
        expect.objectContaining({ event_id: 'ev-7b', basis: 'content', duplicate_of: 'ev-7' }),
      ]);
    } finally {
      await counted.terminate();
    }
  });

});

describe('deduplicator state in the Bigtable emulator: a claim made key by key', () => {
  let instance: Instance;
  const prefix = runPrefix('dedupbt1');
  let n = 0;
  const LEASE = DEFAULT_DEDUP_CONFIG.leaseMs;

  async function table(): Promise<string> {
    const name = `${prefix}keys-${n++}`;
    await ensureTables(instance, [{ table: name, families: DEDUP_TABLE.families }]);
    return name;
  }

  /**
   * A store on a client of its own whose calls are counted (the Bigtable client sends every RPC
   * through `bigtable.request`), and whose CheckAndMutateRow calls can be held back.
   */
  function counted(name: string) {
    const own = bigtableInstance(BIGTABLE_INSTANCE);
    const client = own.bigtable as unknown as { request: (config: { method: string }, callback?: unknown) => unknown };
    const send = client.request.bind(client);
    const calls: string[] = [];
    let hold: { at: number; released: Promise<void> } | undefined;
    client.request = (config, callback) => {
      calls.push(config.method);
      if (hold !== undefined && config.method === 'checkAndMutateRow' && calls.filter((c) => c === 'checkAndMutateRow').length === hold.at) {
        void hold.released.then(() => send(config, callback));
        return undefined;
      }
      return send(config, callback);
    };
    return {
      store: new BigtableDedupStore(own, name, { pollsMs: [10, 20] }),
      calls,
      /** Holds the `at`-th CheckAndMutateRow of this client until `released` resolves. */
      holdAt: (at: number, released: Promise<void>) => (hold = { at, released }),
      close: () => own.bigtable.close(),
    };
  }

  function dieMidClaim(name: string, event: object, ingestId: string, pass: number) {
    const died = spawnSync(process.execPath, ['-e', DIE_MID_CLAIM, ROOT, name, JSON.stringify(event), ingestId, String(pass)], { cwd: ROOT, encoding: 'utf8', env: process.env });
    expect({ signal: died.signal, stderr: died.stderr }).toEqual({ signal: 'SIGKILL', stderr: `FAULT_INJECT: killing this process at pass ${pass} of mid-claim\n` });
  }

  beforeAll(() => {
    ensureBuilt();
    instance = bigtableInstance(BIGTABLE_INSTANCE);
  }, 120_000);
  afterAll(() => instance.bigtable.close());

  it('a delivery that died after claiming its id key: within the lease its redelivery is in flight and a copy waits (redelivered); after it, the redelivery completes and the copy is its duplicate', async () => {
    const name = await table();
    const event = cardScanned({ id: 'ev-d1', data: { card_id: 'card-d1' } });
    const died = Date.now();
    dieMidClaim(name, event, 'raw-dead', 1);
    // The dead delivery claimed on its own wall clock, before it died: its lease is over a lease after now.
    const after = Date.now() + LEASE + 1;
    const store = new BigtableDedupStore(instance, name, { pollsMs: [10, 20] });
    const ctx = (now: number) => ({ now, config: DEFAULT_DEDUP_CONFIG });
    const copy = candidateOf(event, 'raw-copy');
    await expect(store.judgeAndClaim(candidateOf(event, 'raw-dead'), ctx(died))).resolves.toEqual({ kind: 'in_flight' });
    await expect(store.judgeAndClaim(copy, ctx(died))).rejects.toMatchObject({ code: 'CLAIM_PENDING' });
    await expect(store.judgeAndClaim(candidateOf(event, 'raw-dead'), ctx(after))).resolves.toEqual({ kind: 'accept', takeover: true });
    await expect(store.judgeAndClaim(copy, ctx(after))).resolves.toEqual({ kind: 'duplicate', basis: 'id', duplicateOf: 'ev-d1' });
  });

  it('a delivery that died after claiming id and business key: another event wanting the business key waits within the lease and takes it over after; the redelivery is then its duplicate and gives its id key back', async () => {
    const name = await table();
    const dead = cardScanned({ id: 'ev-d2', data: { card_id: 'card-d2' } });
    const rival = cardScanned({ id: 'ev-r2', data: { card_id: 'card-d2', scanned_by: 'user-2' } });
    const died = Date.now();
    dieMidClaim(name, dead, 'raw-dead', 2);
    // The dead delivery claimed on its own wall clock, before it died: its lease is over a lease after now.
    const after = Date.now() + LEASE + 1;
    const store = new BigtableDedupStore(instance, name, { pollsMs: [10, 20] });
    const ctx = (now: number) => ({ now, config: DEFAULT_DEDUP_CONFIG });
    await expect(store.judgeAndClaim(candidateOf(rival, 'raw-rival'), ctx(died))).rejects.toMatchObject({ code: 'CLAIM_PENDING' });
    await expect(store.judgeAndClaim(candidateOf(rival, 'raw-rival'), ctx(after))).resolves.toEqual({ kind: 'accept', takeover: false });
    await expect(store.judgeAndClaim(candidateOf(dead, 'raw-dead'), ctx(after))).resolves.toEqual({ kind: 'duplicate', basis: 'business_key', duplicateOf: 'ev-r2' });
    // As the sequential store judges the rival first; the dead delivery's id key was given back:
    // another event with that id and nothing else in common is accepted.
    await expect(store.judgeAndClaim(candidateOf(cardScanned({ id: 'ev-d2', data: { card_id: 'card-other' } }), 'raw-3'), ctx(after))).resolves.toEqual({ kind: 'accept', takeover: false });
  });

  it('a delivery stalled past its lease between its claim and its commit loses the claim to an event that took it for dead: one of the two is accepted, not both', async () => {
    const name = await table();
    // A and B: the same content under two ids (no business key). A claims both keys, then stalls
    // before its commit (its third CheckAndMutateRow is held); B comes once A's lease is over.
    const a = counted(name);
    let release!: () => void;
    a.holdAt(3, new Promise<void>((r) => (release = r)));
    const aDone = a.store.judgeAndClaim(candidateOf(leadTagged({ id: 'ev-a' }), 'raw-a'), { now: NOW, config: DEFAULT_DEDUP_CONFIG });
    const b = new BigtableDedupStore(instance, name, { pollsMs: [10, 20] });
    const later = { now: NOW + LEASE + 1, config: DEFAULT_DEDUP_CONFIG };
    // B waits until A has claimed both keys (A's commit is then held), then takes A's pending content key over.
    for (let look = 0; a.calls.filter((c) => c === 'checkAndMutateRow').length < 3; look++) {
      if (look > 2_000) throw new Error(`A never reached its commit: ${a.calls.join(', ')}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    await expect(b.judgeAndClaim(candidateOf(leadTagged({ id: 'ev-b' }), 'raw-b'), later)).resolves.toEqual({ kind: 'accept', takeover: false });
    release();
    await expect(aDone).rejects.toMatchObject({ code: 'CLAIM_ABORTED' });
    // A's redelivery is B's duplicate by content, as the sequential store judges B then A.
    await expect(b.judgeAndClaim(candidateOf(leadTagged({ id: 'ev-a' }), 'raw-a'), later)).resolves.toEqual({ kind: 'duplicate', basis: 'content', duplicateOf: 'ev-b' });
    await a.close();
  });

  it('a claim aborted by a takeover stays aborted when the taker gives the row back: the stalled delivery cannot commit beside the event that took its content key', async () => {
    const name = await table();
    const held = (c: ReturnType<typeof counted>, at: number) => {
      let release!: () => void;
      c.holdAt(at, new Promise<void>((r) => (release = r)));
      return () => release();
    };
    const reached = async (c: ReturnType<typeof counted>, calls: number) => {
      for (let look = 0; c.calls.filter((m) => m === 'checkAndMutateRow').length < calls; look++) {
        if (look > 2_000) throw new Error(`never reached call ${calls}: ${c.calls.join(', ')}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    const later = { now: NOW + LEASE + 1, config: DEFAULT_DEDUP_CONFIG };
    const plain = new BigtableDedupStore(instance, name, { pollsMs: [10, 20] });
    // W holds content cy. X (id x, content cx) claims both keys and stalls before its commit.
    await expect(plain.judgeAndClaim(candidateOf(leadTagged({ id: 'ev-w', data: { tags: ['cy'] } }), 'raw-w'), { now: NOW, config: DEFAULT_DEDUP_CONFIG })).resolves.toMatchObject({ kind: 'accept' });
    const x = counted(name);
    const releaseX = held(x, 3);
    const xDone = x.store.judgeAndClaim(candidateOf(leadTagged({ id: 'ev-x', data: { tags: ['cx'] } }), 'raw-x'), { now: NOW, config: DEFAULT_DEDUP_CONFIG });
    await reached(x, 3);
    // Past X's lease, Y (X's id, W's content) takes X's id row over (X is aborted), then stalls
    // before its content key; meanwhile Z (X's content) finds X's content row void and is accepted.
    const y = counted(name);
    const releaseY = held(y, 3);
    const yDone = y.store.judgeAndClaim(candidateOf(leadTagged({ id: 'ev-x', data: { tags: ['cy'] } }), 'raw-y'), later);
    await reached(y, 3);
    await expect(plain.judgeAndClaim(candidateOf(leadTagged({ id: 'ev-z', data: { tags: ['cx'] } }), 'raw-z'), later)).resolves.toEqual({ kind: 'accept', takeover: false });
    // Y is W's duplicate and gives X's id row back; X wakes and must not commit.
    releaseY();
    await expect(yDone).resolves.toEqual({ kind: 'duplicate', basis: 'content', duplicateOf: 'ev-w' });
    releaseX();
    await expect(xDone).rejects.toMatchObject({ code: 'CLAIM_ABORTED' });
    await Promise.all([x.close(), y.close()]);
  });

  it('a first arrival costs a conditional write per key and one commit, no read; a duplicate by id one failed claim and one read', async () => {
    const name = await table();
    const c = counted(name);
    try {
      const publisher = new MemoryPublisher();
      const handler = deduplicatorHandler({ publisher, store: c.store, clock: { now: () => NOW }, config: DEFAULT_DEDUP_CONFIG, validation: { maxFutureMs: 300_000 }, logger: silentLogger });
      await handler(cloudEvent(cardScanned({ id: 'ev-5' }), 'raw-5'));
      // id, business key, content: claimed pending, then the primary committed (the other two stay
      // pending: they read as committed through the primary's commit column).
      expect(c.calls).toEqual(Array.from({ length: 4 }, () => 'checkAndMutateRow'));
      c.calls.length = 0;
      await handler(cloudEvent(cardScanned({ id: 'ev-5' }), 'raw-5b'));
      expect(c.calls).toEqual(['checkAndMutateRow', 'readRows']);
      c.calls.length = 0;
      await handler(cloudEvent(leadTagged({ id: 'ev-6' }), 'raw-6'));
      expect(c.calls).toEqual(Array.from({ length: 3 }, () => 'checkAndMutateRow')); // no business key: id and content
      expect(publisher.json(TOPICS.unique)).toEqual([expect.objectContaining({ id: 'ev-5' }), expect.objectContaining({ id: 'ev-6' })]);
      expect(publisher.json(TOPICS.findings)).toEqual([expect.objectContaining({ kind: 'duplicate', event_id: 'ev-5', basis: 'id', duplicate_of: 'ev-5' })]);
    } finally {
      await c.close();
    }
  });
});
