import { MemoryPublisher } from '../../shared/adapters/memory-publisher';
import { silentLogger } from '../../shared/log';
import { decodePush, pushBody } from '../../shared/pubsub/push';
import { derivedId } from '../../shared/ids';
import { TOPICS } from '../../shared/topology';

import { deduplicatorHandler } from '../../functions/deduplicator/handler';
import { MemoryDedupStore } from '../../functions/deduplicator/state';
import { DEFAULT_DEDUP_CONFIG } from '../../functions/deduplicator/core';
import { serveFunction } from '../support/harness';
import { cardScanned } from '../support/events';

/**
 * Push bodies the way GCP and the emulator send them, through the Functions Framework. The
 * framework turns a push into a `messagePublished` CloudEvent only when `message.data` is truthy
 * (`isRawPubSubRequestBody` in its pubsub_middleware): an attributes-only message reaches the
 * handler as the raw body itself.
 */
const NOW = Date.parse('2026-03-01T12:00:00Z');
const clock = { now: () => NOW };

async function post(url: string, path: string, body: unknown): Promise<number> {
  const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return res.status;
}

/** An attributes-only message: GCP leaves `data` out, the emulator sends `""`. */
function dataLess(messageId: string, data: '' | undefined, attributes: Record<string, string> = { origin: 'scanner' }) {
  const message: Record<string, unknown> = { attributes, messageId, message_id: messageId, publishTime: '2026-03-01T11:59:00Z', publish_time: '2026-03-01T11:59:00Z' };
  if (data !== undefined) message.data = data;
  return { message, subscription: 'projects/demo/subscriptions/deduplicator-events-raw' };
}

describe('the deduplicator (validating first) with a data-less push (GCP leaves data out; the emulator sends "")', () => {
  const publisher = new MemoryPublisher();
  let server: { url: string; close: () => Promise<void> };
  beforeAll(async () => {
    server = await serveFunction('deduplicator', deduplicatorHandler({ publisher, store: new MemoryDedupStore(), clock, config: DEFAULT_DEDUP_CONFIG, validation: { maxFutureMs: 300_000 }, logger: silentLogger }) as never);
  });
  afterAll(() => server.close());
  beforeEach(() => publisher.messages.splice(0));

  it.each([
    ['absent', undefined],
    ['empty', ''],
  ] as const)('data %s: acked once, routed to events-invalid with a reason, one finding whose id comes from the message id', async (_name, data) => {
    expect(await post(server.url, '/projects/demo/topics/events-raw', dataLess('m-41', data))).toBe(204);
    expect(publisher.messages.map((m) => m.topic)).toEqual([TOPICS.invalid, TOPICS.findings]);
    const [record] = publisher.json(TOPICS.invalid) as Array<{ reason: string; message: { message_id: string; attributes: Record<string, string> } }>;
    expect(record!.reason).toMatch(/no data/);
    expect(record!.message).toMatchObject({ message_id: 'm-41', attributes: { origin: 'scanner' } });
    const finding = publisher.messages.find((m) => m.topic === TOPICS.findings)!;
    expect(finding.attributes!.finding_id).toBe(derivedId('invalid', 'm-41'));
    expect(publisher.messages.find((m) => m.topic === TOPICS.invalid)!.attributes).toMatchObject({ ingest_id: 'm-41' });
    expect(JSON.parse(finding.data.toString())).toMatchObject({ kind: 'invalid', action: 'dropped', reason: expect.stringMatching(/no data/) });
  });

  it('two data-less messages get two finding ids; a redelivery of one gets its same id', async () => {
    for (const id of ['m-1', 'm-2', 'm-1']) expect(await post(server.url, '/projects/demo/topics/events-raw', dataLess(id, ''))).toBe(204);
    const ids = publisher.messages.filter((m) => m.topic === TOPICS.findings).map((m) => m.attributes!.finding_id);
    expect(ids).toEqual([derivedId('invalid', 'm-1'), derivedId('invalid', 'm-2'), derivedId('invalid', 'm-1')]);
  });

  it('publishes the finding only once events-invalid has the record: a failed route publishes nothing to findings', async () => {
    let fail = true;
    const inner = new MemoryPublisher();
    const failing = {
      publish: (topic: string, m: Parameters<MemoryPublisher['publish']>[1]) =>
        fail && topic === TOPICS.invalid ? Promise.reject(new Error('unavailable')) : inner.publish(topic, m),
    };
    const s = await serveFunction('deduplicator-route-fails', deduplicatorHandler({ publisher: failing, store: new MemoryDedupStore(), clock, config: DEFAULT_DEDUP_CONFIG, validation: { maxFutureMs: 300_000 }, logger: silentLogger }) as never);
    try {
      expect(await post(s.url, '/projects/demo/topics/events-raw', pushBody('{nope', {}, 'm-9'))).toBe(500);
      expect(inner.messages).toEqual([]);
      fail = false;
      expect(await post(s.url, '/projects/demo/topics/events-raw', pushBody('{nope', {}, 'm-9'))).toBe(204);
      expect(inner.messages.map((m) => m.topic)).toEqual([TOPICS.invalid, TOPICS.findings]);
    } finally {
      await s.close();
    }
  });
});

describe('decodePush', () => {
  it('reads the raw push body the Functions Framework hands over for a data-less message', () => {
    const m = decodePush(dataLess('m-3', undefined) as never);
    expect(m).toMatchObject({ messageId: 'm-3', attributes: { origin: 'scanner' }, rawData: '', publishTime: '2026-03-01T11:59:00Z' });
    expect(m.data).toEqual(Buffer.alloc(0));
  });

  it('never derives a message id from undefined: without one, a digest of what the message holds', () => {
    const a = decodePush({ message: { attributes: { a: '1' } }, subscription: 'projects/p/subscriptions/s' } as never);
    const b = decodePush({ message: { attributes: { a: '2' } }, subscription: 'projects/p/subscriptions/s' } as never);
    expect(typeof a.messageId).toBe('string');
    expect(a.messageId).not.toBe(b.messageId);
    expect(decodePush({ message: { attributes: { a: '1' } }, subscription: 'projects/p/subscriptions/s' } as never).messageId).toBe(a.messageId);
  });

  it('checks base64 of the largest message Pub/Sub allows (10 MB) without overflowing the stack', () => {
    const big = Buffer.alloc(10 * 1024 * 1024, 'a');
    const ce = { id: '1', source: '//pubsub.googleapis.com/projects/p/topics/t', data: { message: { data: big.toString('base64'), messageId: '1' } } };
    expect(decodePush(ce as never).data?.length).toBe(big.length);
    const bad = { ...ce, data: { message: { data: `${big.toString('base64').slice(0, -4)}!!!!`, messageId: '1' } } };
    expect(decodePush(bad as never).data).toBeUndefined();
  });

  it.each(['QQ==', 'QUI=', 'QUJD', ''])('accepts base64 %j', (s) => expect(decodePush({ data: { message: { data: s, messageId: '1' } } } as never).data).toBeDefined());
  it.each(['Q', 'QQ=', 'Q===', '====', 'QU=D', 'QUJD!', 'QUJ\nD'])('rejects %j', (s) => expect(decodePush({ data: { message: { data: s, messageId: '1' } } } as never).data).toBeUndefined());
});

describe('MemoryPublisher', () => {
  it('rejects what the Pub/Sub client rejects: a non-string attribute, a message with neither data nor attributes', async () => {
    const p = new MemoryPublisher();
    await expect(p.publish('t', { data: Buffer.from('x'), attributes: { ingest_id: undefined as unknown as string } })).rejects.toThrow(/must be in the form of a string/);
    await expect(p.publish('t', { data: undefined as unknown as Buffer })).rejects.toThrow(/at least one attribute/);
    await expect(p.publish('t', { data: Buffer.alloc(0), attributes: { a: 'b' } })).resolves.toBe('1');
  });
});

describe('the deduplicator (validating first) with the largest messages Pub/Sub carries', () => {
  it('routes an invalid 8 MB message once: the record fits in a Pub/Sub message (10 MB), the finding names the problem', async () => {
    const publisher = new MemoryPublisher();
    const s = await serveFunction('deduplicator-big', deduplicatorHandler({ publisher, store: new MemoryDedupStore(), clock, config: DEFAULT_DEDUP_CONFIG, validation: { maxFutureMs: 300_000 }, logger: silentLogger }) as never);
    try {
      const bytes = Buffer.from(`{"id":"${'x'.repeat(8 * 1024 * 1024)}`);
      expect(await post(s.url, '/projects/demo/topics/events-raw', pushBody(bytes, {}, 'big-1'))).toBe(204);
      expect(publisher.messages.map((m) => m.topic)).toEqual([TOPICS.invalid, TOPICS.findings]);
      const [record] = publisher.json(TOPICS.invalid) as Array<{ message: { data: string; data_bytes: number; data_truncated: boolean } }>;
      expect(record!.message).toMatchObject({ data_bytes: bytes.length, data_truncated: true });
      expect(Buffer.from(bytes.toString('base64').slice(0, 1000))).toEqual(Buffer.from(record!.message.data.slice(0, 1000)));
    } finally {
      await s.close();
    }
  });

  it('keeps a finding short when one event has thousands of problems', async () => {
    const publisher = new MemoryPublisher();
    const s = await serveFunction('deduplicator-many', deduplicatorHandler({ publisher, store: new MemoryDedupStore(), clock, config: DEFAULT_DEDUP_CONFIG, validation: { maxFutureMs: 300_000 }, logger: silentLogger }) as never);
    try {
      const event = { ...cardScanned(), type: 'sale.recorded', data: { order_id: 'o', amount: 1, currency: 'USD', amount_usd: 1, line_items: Array.from({ length: 50_000 }, () => ({ sku: 1 })) } };
      expect(await post(s.url, '/projects/demo/topics/events-raw', pushBody(JSON.stringify(event), {}, 'many-1'))).toBe(204);
      const [finding] = publisher.json(TOPICS.findings) as Array<{ reason: string }>;
      expect(finding!.reason).toMatch(/; and \d+ more problems$/);
      expect(finding!.reason.length).toBeLessThan(5_000);
      const [record] = publisher.json(TOPICS.invalid) as Array<{ errors: unknown[] }>;
      expect(record!.errors.length).toBeLessThanOrEqual(101);
    } finally {
      await s.close();
    }
  });
});

describe('MemoryPublisher size limit', () => {
  it('rejects a message over 10 MB as Pub/Sub does', async () => {
    await expect(new MemoryPublisher().publish('t', { data: Buffer.alloc(10 * 1024 * 1024 + 1) })).rejects.toThrow(/exceeds the limit: 10485760 bytes/);
  });
});

describe('Pub/Sub\'s 100 attributes per message (issue 18.11)', () => {
  const hundred = (): Record<string, string> => Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${String(i).padStart(3, '0')}`, `v${i}`]));

  it('MemoryPublisher refuses a 101st attribute as Pub/Sub does', async () => {
    const p = new MemoryPublisher();
    await expect(p.publish('t', { data: Buffer.from('x'), attributes: { ...hundred(), one: 'more' } })).rejects.toThrow(/INVALID_ARGUMENT.*100 attributes/);
    await expect(p.publish('t', { data: Buffer.from('x'), attributes: hundred() })).resolves.toBe('1');
  });

  it('routes an invalid event carrying 100 attributes once: its record keeps them all, its message stays within 100', async () => {
    const publisher = new MemoryPublisher();
    const s = await serveFunction('deduplicator-attrs', deduplicatorHandler({ publisher, store: new MemoryDedupStore(), clock, config: DEFAULT_DEDUP_CONFIG, validation: { maxFutureMs: 300_000 }, logger: silentLogger }) as never);
    try {
      const attributes = hundred();
      expect(await post(s.url, '/projects/demo/topics/events-raw', pushBody('{"not":"an event"}', attributes, 'attrs-1'))).toBe(204);
      expect(publisher.messages.map((m) => m.topic)).toEqual([TOPICS.invalid, TOPICS.findings]);
      const routed = publisher.messages[0]!;
      expect(Object.keys(routed.attributes!).length).toBeLessThanOrEqual(100);
      expect(routed.attributes).toMatchObject({ ingest_id: 'attrs-1', reason: 'invalid' });
      const [record] = publisher.json(TOPICS.invalid) as Array<{ message: { attributes: Record<string, string> } }>;
      expect(record!.message.attributes).toEqual(attributes);
    } finally {
      await s.close();
    }
  });

  it('routes a valid event carrying 100 attributes to events-valid', async () => {
    const publisher = new MemoryPublisher();
    const s = await serveFunction('deduplicator-attrs-valid', deduplicatorHandler({ publisher, store: new MemoryDedupStore(), clock, config: DEFAULT_DEDUP_CONFIG, validation: { maxFutureMs: 300_000 }, logger: silentLogger }) as never);
    try {
      const event = cardScanned({ id: 'attrs-ok', time: '2026-03-01T11:58:00Z' });
      expect(await post(s.url, '/projects/demo/topics/events-raw', pushBody(JSON.stringify(event), hundred(), 'attrs-2'))).toBe(204);
      expect(publisher.messages.map((m) => m.topic)).toEqual([TOPICS.unique]);
    } finally {
      await s.close();
    }
  });
});

describe('push bodies no real push sends (issue 20.8)', () => {
  it('an event whose attributes are not all strings is routed once as invalid, naming them, never a 500 loop', async () => {
    const publisher = new MemoryPublisher();
    const s = await serveFunction('deduplicator-odd-attrs', deduplicatorHandler({ publisher, store: new MemoryDedupStore(), clock, config: DEFAULT_DEDUP_CONFIG, validation: { maxFutureMs: 300_000 }, logger: silentLogger }) as never);
    try {
      for (const event of [{ not: 'an event' }, cardScanned({ id: 'odd-attrs', time: '2026-03-01T11:58:00Z' })]) {
        publisher.messages.splice(0);
        const body = { message: { data: Buffer.from(JSON.stringify(event)).toString('base64'), attributes: { ok: 'yes', n: 1, o: { p: 2 }, z: null }, messageId: 'odd-1' }, subscription: 's' };
        expect(await post(s.url, '/projects/demo/topics/events-raw', body)).toBe(204);
        expect(publisher.messages.map((m) => m.topic)).toEqual([TOPICS.invalid, TOPICS.findings]);
        const [record] = publisher.json(TOPICS.invalid) as Array<{ reason: string; message: { attributes: Record<string, string> } }>;
        expect(record!.reason).toMatch(/attributes? n, o, z/);
        expect(record!.message.attributes).toEqual({ ok: 'yes' });
      }
    } finally {
      await s.close();
    }
  });
});
