import { MemoryFailureStore } from '../../shared/adapters/memory-failures';
import { MemoryPublisher, type PublishedMessage } from '../../shared/adapters/memory-publisher';
import { eventAttributes } from '../../shared/attributes';
import { failureReport, withBoundary } from '../../shared/boundary';
import { TARGET_SUBSCRIPTION } from '../../shared/dead-letters';
import { TransientError } from '../../shared/errors';
import { silentLogger } from '../../shared/log';
import type { OutboundMessage, Publisher } from '../../shared/ports';
import { TOPICS } from '../../shared/topology';
import { mergePatch, NO_REASON, REPLAY_OF } from '../../functions/dlq-triage/core';
import { MemoryTriageStore } from '../../functions/dlq-triage/store';
import { DEFAULT_DEDUP_CONFIG } from '../../functions/deduplicator/core';
import { deduplicatorHandler } from '../../functions/deduplicator/handler';
import { MemoryDedupStore } from '../../functions/deduplicator/state';
import { cardScanned, saleRecorded } from '../support/events';
import { b64, deadLetter, delivered, invalidMessage, seedStatsFixture, triageService } from '../support/triage';

const T = Date.parse('2026-03-01T12:00:00Z');
class FakeClock {
  constructor(public t = T) {}
  now = () => this.t;
  sleep = async (ms: number) => {
    this.sleeps.push(ms);
    this.t += ms;
  };
  sleeps: number[] = [];
}

function setup(publisher: Publisher = new MemoryPublisher()) {
  const clock = new FakeClock();
  const { service, store, failures } = triageService({ publisher, clock, sleep: clock.sleep });
  return { clock, store: store as MemoryTriageStore, failures: failures as MemoryFailureStore, service, publisher };
}

describe('dlq-triage: storing what arrives', () => {
  it('keeps a dead letter with the failure its boundary recorded, found from the copy alone, and publishes a dead_lettered finding', async () => {
    const { service, failures, publisher, store } = setup();
    const sale = saleRecorded({ id: 'sale-9' });
    const attrs = { type: 'sale.recorded', source: '//shop', id: 'sale-9' };
    const err = new TransientError('stripe: 503', 'STRIPE_503', { eventId: 'sale-9' });
    await failures.record(failureReport('revenue-checker', 'revenue-checker-sales', 'orig-1', attrs, b64(sale), err, T), T + 1);
    const m = deadLetter('revenue-checker-sales', sale, attrs);
    const record = await service.receive(TOPICS.deadLetters, m);
    expect(record).toMatchObject({
      origin: 'dead_letter',
      class: 'transient',
      state: 'open',
      subscription: 'revenue-checker-sales',
      topic: 'events-unique',
      delivery_count: 5,
      event: { id: 'sale-9', type: 'sale.recorded' },
      original: { data: m.data, attributes: attrs },
      failure: { code: 'STRIPE_503', function: 'revenue-checker', attempts: 1 },
    });
    expect(record!.reason).toContain('TransientError STRIPE_503: stripe: 503');
    expect(record!.expire_at).toBeUndefined();
    // A redelivery of the same dead letter is the same record.
    await service.receive(TOPICS.deadLetters, m);
    expect(store.records.size).toBe(1);
    const findings = (publisher as MemoryPublisher).json(TOPICS.findings) as Array<Record<string, unknown>>;
    expect(findings[0]).toMatchObject({ action: 'dead_lettered', event_id: 'sale-9', subscription: 'revenue-checker-sales', class: 'transient' });
    const ids = (publisher as MemoryPublisher).messages.filter((x) => x.topic === TOPICS.findings).map((x) => x.attributes!.finding_id);
    expect(new Set(ids).size).toBe(1);
  });

  it('one dead_letter finding id per message and subscription: the same message dead-lettered again (a new copy) repeats it; another subscription has its own', async () => {
    // Pub/Sub dead-letters "on a best effort basis. The same message might be dead lettered
    // multiple times" (DeadLetterPolicy); each time is a new copy under a new message id.
    const { service, publisher } = setup();
    const sale = saleRecorded({ id: 'sale-7' });
    const attrs = { type: 'sale.recorded', source: '//shop', id: 'sale-7' };
    await service.receive(TOPICS.deadLetters, deadLetter('revenue-checker-sales', sale, attrs));
    await service.receive(TOPICS.deadLetters, deadLetter('revenue-checker-sales', sale, attrs, { count: '6' }));
    await service.receive(TOPICS.deadLetters, deadLetter('gap-detector-chains', sale, attrs));
    const ids = (publisher as MemoryPublisher).messages.filter((x) => x.topic === TOPICS.findings).map((x) => x.attributes!.finding_id);
    expect(ids).toHaveLength(3);
    expect(ids[0]).toBe(ids[1]);
    expect(ids[2]).not.toBe(ids[0]);
  });

  it('one record per message: copies of one message dead-lettered more than once (same source publish time) are one record, dated by the original publish', async () => {
    // Each copy has its own message id and publish time; what Pub/Sub adds, the source topic's
    // publish time (CloudPubSubDeadLetterSourceTopicPublishTime, set by the emulator too), is the
    // original message's. Without it, each copy stands for itself, as before.
    const { service, store } = setup();
    const sale = saleRecorded({ id: 'sale-8' });
    const attrs = { type: 'sale.recorded', source: '//shop', id: 'sale-8' };
    const original = '2026-03-01T11:59:58.123Z';
    const a = await service.receive(TOPICS.deadLetters, deadLetter('revenue-checker-sales', sale, attrs, { sourcePublishTime: original }));
    const b = await service.receive(TOPICS.deadLetters, deadLetter('revenue-checker-sales', sale, attrs, { sourcePublishTime: original, count: '6' }));
    expect(b!.id).toBe(a!.id);
    expect(a!.id.startsWith(String(Date.parse(original)))).toBe(true);
    expect(store.records.size).toBe(1);
    // The same bytes published again later are another message: another record.
    await service.receive(TOPICS.deadLetters, deadLetter('revenue-checker-sales', sale, attrs, { sourcePublishTime: '2026-03-01T11:59:59.000Z' }));
    // And the same message dead-lettered by another subscription is that subscription's record.
    await service.receive(TOPICS.deadLetters, deadLetter('gap-detector-chains', sale, attrs, { sourcePublishTime: original }));
    expect(store.records.size).toBe(3);
    // A copy without the source publish time: one record per copy.
    await service.receive(TOPICS.deadLetters, deadLetter('revenue-checker-sales', sale, attrs));
    await service.receive(TOPICS.deadLetters, deadLetter('revenue-checker-sales', sale, attrs));
    expect(store.records.size).toBe(5);
  });

  it('says "no reason recorded" when the failing function recorded nothing', async () => {
    const { service } = setup();
    const record = await service.receive(TOPICS.deadLetters, deadLetter('deduplicator-events-raw', cardScanned()));
    expect(record).toMatchObject({ reason: NO_REASON, class: 'transient', subscription: 'deduplicator-events-raw', topic: 'events-raw' });
  });

  it('records an unexpected exception as poison', async () => {
    const { service, failures } = setup();
    const ev = cardScanned({ id: 'p-1' });
    await failures.record(failureReport('deduplicator', 'deduplicator-events-raw', 'x', {}, b64(ev), new TypeError('boom'), T), T);
    expect(await service.receive(TOPICS.deadLetters, deadLetter('deduplicator-events-raw', ev))).toMatchObject({ class: 'poison' });
  });

  it('keeps an events-invalid message as an invalid record aimed at the deduplicator\'s events-raw subscription, once per raw message', async () => {
    const { service, store } = setup();
    const raw = { ...saleRecorded({ id: 'bad-1' }), data: {} };
    const r1 = await service.receive(TOPICS.invalid, invalidMessage(raw, 'raw-7'));
    await service.receive(TOPICS.invalid, invalidMessage(raw, 'raw-7'));
    expect(store.records.size).toBe(1);
    expect(r1).toMatchObject({ class: 'invalid', subscription: 'deduplicator-events-raw', topic: 'events-raw', reason: 'data.amount: is required', event: { id: 'bad-1' } });
  });

  it('keeps findings held for review and ignores the others (the emulator does not enforce the filter)', async () => {
    const { service, store } = setup();
    const review = { kind: 'payment_mismatch', action: 'review', event_id: 's-1', field: 'amount', expected: 1, actual: 2, reason: 'refunded' };
    expect(await service.receive(TOPICS.findings, { messageId: 'f1', publishTime: undefined, data: b64(review), attributes: { action: 'review', finding_id: 'fid' } })).toMatchObject({ class: 'review', reason: 'refunded' });
    expect(await service.receive(TOPICS.findings, { messageId: 'f2', publishTime: undefined, data: b64({ kind: 'gap', action: 'reported' }), attributes: {} })).toBeUndefined();
    expect(store.records.size).toBe(1);
    const [r] = [...store.records.values()];
    expect(await service.replay(r!.id, 'op')).toMatchObject({ outcome: 'refused' });
  });
});

describe('dlq-triage: operator actions', () => {
  it('replays a record to its topic aimed at the failed subscription only, once; the TTL starts when it closes', async () => {
    const { service, publisher, store } = setup();
    const r = (await service.receive(TOPICS.deadLetters, deadLetter('gap-detector-chains', cardScanned(), { type: 'card.scanned', id: 'card.scanned-1' })))!;
    const pub = publisher as MemoryPublisher;
    pub.messages.splice(0);
    const first = await service.replay(r.id, 'token:ann');
    expect(first).toMatchObject({ outcome: 'published', record: { state: 'replayed', replay: { by: 'token:ann' } } });
    expect(pub.messages).toHaveLength(1);
    expect(pub.messages[0]).toMatchObject({ topic: 'events-unique', attributes: { type: 'card.scanned', id: 'card.scanned-1', [TARGET_SUBSCRIPTION]: 'gap-detector-chains', [REPLAY_OF]: r.id } });
    expect(pub.messages[0]!.data.toString('base64')).toBe(r.original.data);
    expect(Object.keys(pub.messages[0]!.attributes!).some((k) => k.startsWith('CloudPubSub'))).toBe(false);
    expect(await service.replay(r.id, 'token:ann')).toMatchObject({ outcome: 'skipped', reason: 'already replayed' });
    expect(pub.messages).toHaveLength(1);
    expect((await store.get(r.id))!.expire_at).toBe(new Date(T + 30 * 86_400_000).toISOString());
    const audit = await service.auditLog({ limit: 10 });
    expect(audit.map((a) => [a.action, a.outcome])).toEqual([
      ['replay', 'ok'],
      ['replay', 'skipped'],
    ]);
    expect(audit[0]).toMatchObject({ actor: 'token:ann', before: { state: 'open' }, after: { state: 'replayed' } });
  });

  it('leaves the record open, unclaimed, when the publish fails', async () => {
    let fail = true;
    const inner = new MemoryPublisher();
    const flaky: Publisher = { publish: (t: string, m: OutboundMessage) => (fail && t !== TOPICS.findings ? Promise.reject(new Error('unavailable')) : inner.publish(t, m)) };
    const { service, store } = setup(flaky);
    const r = (await service.receive(TOPICS.deadLetters, deadLetter('deduplicator-events-raw', cardScanned())))!;
    expect(await service.replay(r.id, 'op')).toMatchObject({ outcome: 'failed' });
    expect(await store.get(r.id)).toMatchObject({ state: 'open' });
    expect((await store.get(r.id))!.claim).toBeUndefined();
    fail = false;
    expect(await service.replay(r.id, 'op')).toMatchObject({ outcome: 'published' });
  });

  it('validates a fix with the shared schemas before publishing; a bad fix says why and publishes nothing; the original stays beside the fix', async () => {
    const { service, publisher, store } = setup();
    const raw = { ...saleRecorded({ id: 'bad-2' }) } as Record<string, unknown>;
    const data = { ...(raw.data as Record<string, unknown>) };
    delete data.amount;
    const r = (await service.receive(TOPICS.invalid, invalidMessage({ ...raw, data }, 'raw-9')))!;
    const pub = publisher as MemoryPublisher;
    pub.messages.splice(0);
    const bad = await service.fix(r.id, { patch: { data: { amount: -5 } } }, 'op');
    expect(bad).toMatchObject({ outcome: 'rejected', reason: expect.stringContaining('amount') });
    expect(pub.messages).toHaveLength(0);
    expect(await store.get(r.id)).toMatchObject({ state: 'open' });
    const good = await service.fix(r.id, { patch: { data: { amount: (raw.data as { amount: number }).amount } } }, 'op');
    expect(good).toMatchObject({ outcome: 'published' });
    expect(pub.messages).toHaveLength(1);
    expect(pub.messages[0]).toMatchObject({ topic: 'events-raw', attributes: { id: 'bad-2', type: 'sale.recorded', [TARGET_SUBSCRIPTION]: 'deduplicator-events-raw' } });
    const stored = (await store.get(r.id))!;
    expect(stored.state).toBe('fixed');
    expect(stored.original.data).toBe(r.original.data);
    expect(JSON.parse(Buffer.from(stored.fix!.data, 'base64').toString())).toEqual(raw);
    expect((await service.auditLog({ limit: 10 })).map((a) => [a.action, a.outcome])).toEqual([
      ['fix', 'rejected'],
      ['fix', 'ok'],
    ]);
  });

  it('refuses a fix that changes the event\'s id or type, with the reason, and publishes nothing (issue 20.5)', async () => {
    const { service, publisher, store } = setup();
    const sale = saleRecorded({ id: 'keep-1' });
    const r = (await service.receive(TOPICS.deadLetters, deadLetter('revenue-checker-sales', sale)))!;
    const pub = publisher as MemoryPublisher;
    pub.messages.splice(0);
    const discount = { specversion: '1.0', id: 'keep-1', source: sale.source, type: 'discount.issued', time: sale.time, data: { user_id: 'u1', program: 'p', code: 'c' } };
    const asDiscount = await service.fix(r.id, { event: discount }, 'op');
    expect(asDiscount).toMatchObject({ outcome: 'rejected', reason: expect.stringContaining('type'), errors: [{ path: 'type' }] });
    const renamed = await service.fix(r.id, { patch: { id: 'keep-2' } }, 'op');
    expect(renamed).toMatchObject({ outcome: 'rejected', reason: expect.stringContaining('id'), errors: [{ path: 'id' }] });
    expect(await service.fix(r.id, { patch: { id: 'keep-2' }, dry_run: true }, 'op')).toMatchObject({ outcome: 'rejected' });
    expect(pub.messages).toHaveLength(0);
    expect(await store.get(r.id)).toMatchObject({ state: 'open' });
    // The same event with a corrected field is a fix.
    expect(await service.fix(r.id, { patch: { data: { order_id: 'o-fixed' } } }, 'op')).toMatchObject({ outcome: 'published' });
  });

  it('lets a fix give an invalid event the id or type it lacked, or replace a type the catalog does not know', async () => {
    const { service } = setup();
    const card = cardScanned({ id: 'typo-1' });
    const unknownType = (await service.receive(TOPICS.invalid, invalidMessage({ ...card, type: 'card.scaned' }, 'raw-typo')))!;
    expect(await service.fix(unknownType.id, { patch: { type: 'card.scanned' } }, 'op')).toMatchObject({ outcome: 'published' });
    const { id: _id, ...noId } = cardScanned({ id: 'x' });
    const missingId = (await service.receive(TOPICS.invalid, invalidMessage(noId, 'raw-noid')))!;
    expect(await service.fix(missingId.id, { patch: { id: 'given-1' } }, 'op')).toMatchObject({ outcome: 'published' });
  });

  it('refuses, with the reason, to replay a message whose attributes leave no room for the replay\'s two (Pub/Sub allows 100)', async () => {
    const { service, publisher, store } = setup();
    const attributes = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, `v${i}`]));
    const r = (await service.receive(TOPICS.deadLetters, deadLetter('gap-detector-chains', cardScanned({ id: 'attrs-100' }), attributes)))!;
    expect(Object.keys(r.original.attributes)).toHaveLength(100);
    const pub = publisher as MemoryPublisher;
    pub.messages.splice(0);
    expect(await service.replay(r.id, 'op')).toMatchObject({ outcome: 'refused', reason: expect.stringMatching(/100 attributes/) });
    expect(pub.messages).toHaveLength(0);
    expect(await store.get(r.id)).toMatchObject({ state: 'open' });
    expect(await service.discard(r.id, 'cannot be replayed', 'op')).toMatchObject({ outcome: 'ok' });
  });

  it('discards with a reason, once', async () => {
    const { service } = setup();
    const r = (await service.receive(TOPICS.deadLetters, deadLetter('deduplicator-events-raw', cardScanned())))!;
    expect(await service.discard(r.id, 'test traffic', 'op')).toMatchObject({ outcome: 'ok', record: { state: 'discarded', discard: { reason: 'test traffic', by: 'op' } } });
    expect(await service.discard(r.id, 'again', 'op')).toMatchObject({ outcome: 'skipped' });
    expect(await service.replay(r.id, 'op')).toMatchObject({ outcome: 'skipped' });
  });

  it('lists with filters and pagination, and counts by class, state, subscription and type', async () => {
    const { service, failures } = setup();
    for (let i = 0; i < 5; i++) await service.receive(TOPICS.deadLetters, deadLetter('deduplicator-events-raw', cardScanned({ id: `c-${i}` })));
    const ev = saleRecorded({ id: 'p' });
    await failures.record(failureReport('revenue-checker', 'revenue-checker-sales', 'x', {}, b64(ev), new RangeError('bug'), T), T);
    await service.receive(TOPICS.deadLetters, deadLetter('revenue-checker-sales', ev));
    const page1 = await service.list({ page_size: 2, state: ['open'], subscription: 'deduplicator-events-raw' });
    expect(page1.records).toHaveLength(2);
    const page2 = await service.list({ page_size: 2, state: ['open'], subscription: 'deduplicator-events-raw', page_token: page1.next_page_token! });
    const page3 = await service.list({ page_size: 2, state: ['open'], subscription: 'deduplicator-events-raw', page_token: page2.next_page_token! });
    expect([...page1.records, ...page2.records, ...page3.records].map((r) => r.event.id)).toEqual(['c-0', 'c-1', 'c-2', 'c-3', 'c-4']);
    expect((await service.list({ page_size: 10, class: ['poison'] })).records.map((r) => r.event.id)).toEqual(['p']);
    expect((await service.list({ page_size: 10, q: 'RANGEERROR' })).records).toHaveLength(1);
    expect(await service.stats()).toEqual({
      total: 6,
      by_class: { transient: 5, poison: 1 },
      by_state: { open: 6 },
      by_subscription: { 'deduplicator-events-raw': 5, 'revenue-checker-sales': 1 },
      by_type: { 'card.scanned': 5, 'sale.recorded': 1 },
    });
  });
});

describe('dlq-triage: stats', () => {
  it('counts by class, state, subscription and type with count queries, and reading the records gives the same answer', async () => {
    const { service, store } = setup();
    const expected = await seedStatsFixture(service, 'u');
    let scans = 0;
    const scan = store.scan.bind(store);
    store.scan = (q) => ((scans += 1), scan(q));
    expect(await service.stats()).toEqual(expected.all);
    expect(await service.stats({ state: ['open'] })).toEqual(expected.open);
    expect(scans).toBe(0);
    // A filter counts cannot express (text in the reason) reads the records: the same buckets.
    expect(await service.stats({ q: '' })).toEqual(expected.all);
    expect(await service.stats({ q: '', state: ['open'] })).toEqual(expected.open);
    expect(scans).toBeGreaterThan(0);
  });
});

describe('dlq-triage: a replay claim that lapses while its publish is slow', () => {
  it('lets a second replay publish again, closes the record once, and the target subscription handles one of the two', async () => {
    const inner = new MemoryPublisher();
    let release: () => void = () => undefined;
    let slow = true;
    const slowPublisher: Publisher = {
      publish: async (t, m) => {
        if (slow && t !== TOPICS.findings) {
          slow = false;
          await new Promise<void>((r) => (release = r));
        }
        return inner.publish(t, m);
      },
    };
    const { service, store, clock } = setup(slowPublisher);
    const r = (await service.receive(TOPICS.deadLetters, deadLetter('gap-detector-chains', cardScanned({ id: 'slow-1' }), { type: 'card.scanned', id: 'slow-1' })))!;
    const first = service.replay(r.id, 'op-a');
    await new Promise((resolve) => setImmediate(resolve));
    expect(await service.replay(r.id, 'op-b')).toMatchObject({ outcome: 'skipped', reason: 'a replay of it is in flight' });
    clock.t += 60_001; // the claim lapses; the first publish is still under way
    const second = await service.replay(r.id, 'op-b');
    expect(second).toMatchObject({ outcome: 'published', record: { state: 'replayed', replay: { by: 'op-b' } } });
    release();
    expect(await first).toMatchObject({ outcome: 'published', record: { state: 'replayed', replay: { by: 'op-b' } } });
    // Both publishes happened: Pub/Sub cannot take a message back.
    const published = inner.messages.filter((m) => m.topic !== TOPICS.findings);
    expect(published).toHaveLength(2);
    expect(published.map((m) => m.attributes![REPLAY_OF])).toEqual([r.id, r.id]);
    // The record closed once, with the second replay; the first's late close was fenced off.
    const stored = (await store.get(r.id))!;
    expect(stored.history.filter((h) => h.action === 'replay')).toHaveLength(1);
    expect(stored.replay).toMatchObject({ by: 'op-b', message_id: second.outcome === 'published' ? second.message_id : '' });
    expect((await service.auditLog({ limit: 10, recordId: r.id })).map((a) => [a.actor, a.outcome, a.detail?.includes('claim lapsed') ?? false])).toEqual([
      ['op-b', 'skipped', false],
      ['op-b', 'ok', false],
      ['op-a', 'ok', true],
    ]);
    // Downstream: gap-detector's boundary on gap-detector-chains sees both messages, handles one.
    const handled: string[] = [];
    const consumer = withBoundary('gap-detector', async (ce) => void handled.push(ce.data!.message!.messageId!), { failures: new MemoryFailureStore(), logger: silentLogger, clock });
    for (const m of published) {
      await consumer(delivered(m));
    }
    expect(handled).toEqual([published[0]!.id]);
  });
});

describe('dlq-triage: a dead letter of the deduplicator', () => {
  it("replays an events-raw message under the failed delivery's id: the deduplicator takes over that delivery's claim and forwards the event once", async () => {
    const { service, failures, publisher, clock } = setup();
    const ev = cardScanned({ id: 'stuck-1' });
    const raw: PublishedMessage = { topic: TOPICS.raw, id: 'raw-77', data: Buffer.from(JSON.stringify(ev)), attributes: eventAttributes(ev) };
    // The deduplicator claims the event, then cannot publish it: every attempt fails (each one past
    // the last one's lease, so each takes the claim over), and Pub/Sub dead-letters the message.
    const out = new MemoryPublisher();
    let down = true;
    const dedupPublisher: Publisher = {
      publish: (topic, m) => (down && topic === TOPICS.unique ? Promise.reject(new TransientError('publish: unavailable', 'UNAVAILABLE')) : out.publish(topic, m)),
    };
    const dedup = withBoundary(
      'deduplicator',
      deduplicatorHandler({ publisher: dedupPublisher, store: new MemoryDedupStore(), clock, config: DEFAULT_DEDUP_CONFIG, validation: { maxFutureMs: 300_000 }, logger: silentLogger }),
      { failures, logger: silentLogger, clock },
    );
    for (let attempt = 1; attempt <= 5; attempt++) {
      await expect(dedup(delivered(raw))).rejects.toThrow();
      clock.t += DEFAULT_DEDUP_CONFIG.leaseMs + 1;
    }
    const record = (await service.receive(TOPICS.deadLetters, deadLetter('deduplicator-events-raw', ev, raw.attributes!)))!;
    expect(record.failure).toMatchObject({ function: 'deduplicator', message_id: 'raw-77' });
    down = false;
    expect(await service.replay(record.id, 'op')).toMatchObject({ outcome: 'published' });
    const replays = (publisher as MemoryPublisher).messages.filter((m) => m.topic === TOPICS.raw);
    expect(replays.map((m) => m.attributes)).toEqual([{ ...raw.attributes, ingest_id: 'raw-77', [TARGET_SUBSCRIPTION]: 'deduplicator-events-raw', [REPLAY_OF]: record.id }]);
    // A new message id, the failed delivery's ingest id: forwarded, not judged a duplicate of itself.
    await dedup(delivered(replays[0]!));
    expect(out.messages.map((m) => [m.topic, m.attributes!.id, m.attributes!.ingest_id])).toEqual([[TOPICS.unique, 'stuck-1', 'raw-77']]);
  });

  it('aims the replay of a record of a subscription an upgrade replaced at its successor (the manifest\'s replaces); refuses one of a subscription neither there nor replaced', async () => {
    const { service, store, publisher } = setup();
    // Dead-lettered by the old deduplicator, from events-valid: it carries the validator's ingest id.
    const ev = cardScanned({ id: 'legacy-1' });
    const carried = { ...eventAttributes(ev), ingest_id: 'raw-9' };
    const old = (await service.receive(TOPICS.deadLetters, deadLetter('deduplicator-events-valid', ev, carried)))!;
    // An invalid event the validator routed, fixed after the upgrade.
    const sale = saleRecorded({ id: 'legacy-2' }) as Record<string, unknown>;
    const { amount, ...withoutAmount } = sale.data as { amount: number };
    const invalid = (await service.receive(TOPICS.invalid, invalidMessage({ ...sale, data: withoutAmount }, 'raw-10')))!;
    await store.update(invalid.id, (r) => ({ ...r, subscription: 'validator-events-raw' }));
    const gone = (await service.receive(TOPICS.deadLetters, deadLetter('retired-subscription', cardScanned({ id: 'legacy-3' }))))!;
    expect(await service.replay(old.id, 'op')).toMatchObject({ outcome: 'published' });
    expect(await service.fix(invalid.id, { patch: { data: { amount } } }, 'op')).toMatchObject({ outcome: 'published' });
    expect(await service.replay(gone.id, 'op')).toEqual({ outcome: 'refused', record: expect.anything(), reason: 'the subscription that failed it is not in the manifest (retired-subscription)' });
    const sent = (publisher as MemoryPublisher).messages.filter((m) => m.topic !== TOPICS.findings);
    expect(sent.map((m) => [m.topic, m.attributes![TARGET_SUBSCRIPTION], m.attributes!.id, m.attributes!.ingest_id])).toEqual([
      [TOPICS.raw, 'deduplicator-events-raw', 'legacy-1', 'raw-9'],
      [TOPICS.raw, 'deduplicator-events-raw', 'legacy-2', undefined],
    ]);
  });

  it('adds no ingest id to a message that carries one, nor to a record without a failure', async () => {
    const { service, failures, publisher } = setup();
    const ev = cardScanned({ id: 'carried-1' });
    const carried = { ...eventAttributes(ev), ingest_id: 'raw-1' };
    await failures.record(failureReport('gap-detector', 'gap-detector-chains', 'unique-1', carried, b64(ev), new TransientError('down', 'DOWN'), T), T + 1);
    const a = (await service.receive(TOPICS.deadLetters, deadLetter('gap-detector-chains', ev, carried)))!;
    const b = (await service.receive(TOPICS.deadLetters, deadLetter('deduplicator-events-raw', cardScanned({ id: 'unrecorded-1' }), eventAttributes(cardScanned({ id: 'unrecorded-1' })))))!;
    for (const r of [a, b]) expect(await service.replay(r.id, 'op')).toMatchObject({ outcome: 'published' });
    const sent = (publisher as MemoryPublisher).messages.filter((m) => m.topic !== TOPICS.findings);
    expect(sent.map((m) => m.attributes!.ingest_id)).toEqual(['raw-1', undefined]);
  });
});

describe('dlq-triage: bulk replay', () => {
  async function seeded(n: number, publisher?: Publisher) {
    const s = setup(publisher);
    for (let i = 0; i < n; i++) await s.service.receive(TOPICS.deadLetters, deadLetter('deduplicator-events-raw', cardScanned({ id: `b-${i}` })));
    return s;
  }
  const replays = (p: MemoryPublisher) => p.messages.filter((m) => m.topic !== TOPICS.findings);

  it('counts first on a dry run, then publishes each open record once on the limiter\'s schedule; a second run publishes nothing', async () => {
    const { service, publisher, clock } = await seeded(10);
    expect(await service.startBulk({ filter: {}, rate_per_second: 50, dry_run: true }, 'op')).toEqual({ dry_run: true, count: 10, by_subscription: { 'deduplicator-events-raw': 10 } });
    expect(replays(publisher as MemoryPublisher)).toHaveLength(0);
    const job = await service.startBulk({ filter: {}, rate_per_second: 50, dry_run: false }, 'op');
    const start = clock.t;
    const done = await service.runJob((job as { id: string }).id, { maxRecords: 100, maxMs: 60_000 });
    expect(done).toMatchObject({ state: 'done', total: 10, published: 10, skipped: 0 });
    expect(replays(publisher as MemoryPublisher)).toHaveLength(10);
    // 50/s: one slot every 20 ms; the first goes at once.
    expect(clock.sleeps).toEqual(Array(9).fill(20));
    expect(clock.t - start).toBe(180);
    const again = await service.startBulk({ filter: {}, rate_per_second: 50, dry_run: false }, 'op');
    expect(again).toMatchObject({ total: 0 });
    await service.runJob((again as { id: string }).id, { maxRecords: 100, maxMs: 60_000 });
    expect(replays(publisher as MemoryPublisher)).toHaveLength(10);
  });

  it('resumes after a crash mid-run without publishing anything twice', async () => {
    let published = 0;
    const inner = new MemoryPublisher();
    // The process "dies" at the 5th replay publish: the publish never happens, the run stops.
    const crashing: Publisher = {
      publish: async (t, m) => {
        if (t !== TOPICS.findings && ++published === 5) throw new Error('process killed');
        return inner.publish(t, m);
      },
    };
    const { service, store } = await seeded(8, crashing);
    const job = (await service.startBulk({ filter: {}, rate_per_second: 100, dry_run: false }, 'op')) as { id: string };
    const first = (await service.runJob(job.id, { maxRecords: 100, maxMs: 60_000 }))!;
    expect(first).toMatchObject({ state: 'running', failed: 1 });
    expect(first.published).toBeGreaterThanOrEqual(4);
    expect(first.published).toBeLessThan(8);
    const resumed = await service.runJob(job.id, { maxRecords: 100, maxMs: 60_000 });
    expect(resumed).toMatchObject({ state: 'done', published: 8 });
    const ids = replays(inner).map((m) => m.attributes![REPLAY_OF]);
    expect(ids).toHaveLength(8);
    expect(new Set(ids).size).toBe(8);
    expect([...store.records.values()].every((r) => r.state === 'replayed')).toBe(true);
  });

  it('resumes after a crash between publishing and closing: the repeat publish reaches the target subscription once', async () => {
    let published = 0;
    const inner = new MemoryPublisher();
    // The 5th replay is published, then the process "dies" before it learns so (or the answer is lost).
    const crashing: Publisher = {
      publish: async (t, m) => {
        const id = await inner.publish(t, m);
        if (t !== TOPICS.findings && ++published === 5) throw new Error('process killed after publishing');
        return id;
      },
    };
    const { service, clock } = await seeded(8, crashing);
    const job = (await service.startBulk({ filter: {}, rate_per_second: 100, dry_run: false }, 'op')) as { id: string };
    expect(await service.runJob(job.id, { maxRecords: 100, maxMs: 60_000 })).toMatchObject({ state: 'running', failed: 1 });
    expect(await service.runJob(job.id, { maxRecords: 100, maxMs: 60_000 })).toMatchObject({ state: 'done', published: 8 });
    const sent = replays(inner);
    expect(sent).toHaveLength(9); // Pub/Sub has the crashed publish too
    expect(new Set(sent.map((m) => m.attributes![REPLAY_OF])).size).toBe(8);
    const handled: string[] = [];
    const consumer = withBoundary('deduplicator', async (ce) => void handled.push(ce.data!.message!.attributes![REPLAY_OF]!), { failures: new MemoryFailureStore(), logger: silentLogger, clock });
    for (const m of sent) {
      await consumer(delivered(m));
    }
    expect(handled).toHaveLength(8);
    expect(new Set(handled).size).toBe(8);
  });

  it('stops: a stopped job publishes nothing more', async () => {
    const { service, publisher } = await seeded(6);
    const job = (await service.startBulk({ filter: {}, rate_per_second: 50, dry_run: false }, 'op')) as { id: string };
    await service.runJob(job.id, { maxRecords: 2, maxMs: 60_000 });
    expect(await service.stopJob(job.id, 'op')).toMatchObject({ state: 'stopped', published: 2 });
    expect(await service.runJob(job.id, { maxRecords: 100, maxMs: 60_000 })).toMatchObject({ state: 'stopped', published: 2 });
    expect(replays(publisher as MemoryPublisher)).toHaveLength(2);
  });
});

describe('JSON merge patch (RFC 7386)', () => {
  it.each([
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [['a'], { a: 'b' }, { a: 'b' }],
  ])('%j + %j = %j', (target, patch, result) => {
    expect(mergePatch(target, patch)).toEqual(result);
  });
});
