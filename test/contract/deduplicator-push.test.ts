import { MemoryPublisher } from '../../shared/adapters/memory-publisher';
import { silentLogger } from '../../shared/log';
import { pushBody } from '../../shared/pubsub/push';
import { TOPICS } from '../../shared/topology';
import { deduplicatorHandler } from '../../functions/deduplicator/handler';
import { MemoryDedupStore } from '../../functions/deduplicator/state';
import { DEFAULT_DEDUP_CONFIG } from '../../functions/deduplicator/core';
import type { OutboundMessage, Publisher } from '../../shared/ports';
import { serveFunction } from '../support/harness';
import { cardScanned } from '../support/events';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const clock = { now: () => NOW };
const TOPIC_PATH = '/projects/demo/topics/events-raw';

async function push(url: string, body: unknown) {
  const res = await fetch(`${url}${TOPIC_PATH}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return res.status;
}

describe('deduplicator validating over HTTP, with the raw Pub/Sub push body', () => {
  const publisher = new MemoryPublisher();
  let server: { url: string; close: () => Promise<void> };
  beforeAll(async () => {
    server = await serveFunction('deduplicator-validating', deduplicatorHandler({ publisher, store: new MemoryDedupStore(), clock, config: DEFAULT_DEDUP_CONFIG, validation: { maxFutureMs: 300_000 }, logger: silentLogger }) as never);
  });
  afterAll(() => server.close());
  beforeEach(() => publisher.messages.splice(0));

  it('acks a valid event and forwards its bytes to events-unique with type, source, id and the ingest id', async () => {
    const bytes = JSON.stringify(cardScanned({ id: 'ev-1' }));
    expect(await push(server.url, pushBody(bytes, {}, 'raw-7'))).toBe(204);
    expect(publisher.messages).toHaveLength(1);
    const [m] = publisher.messages;
    expect(m!.topic).toBe(TOPICS.unique);
    expect(m!.data.toString()).toBe(bytes);
    expect(m!.attributes).toEqual({ type: 'card.scanned', source: '//test/producer', id: 'ev-1', ingest_id: 'raw-7' });
  });

  it.each([
    ['not JSON', pushBody('{nope')],
    ['not base64', { ...pushBody('x'), message: { ...pushBody('x').message, data: '!!not base64!!' } }],
    ['a schema violation', pushBody(JSON.stringify({ ...cardScanned(), data: {} }))],
  ])('acks %s and routes it to events-invalid with a finding', async (_name, body) => {
    expect(await push(server.url, body)).toBe(204);
    expect(publisher.messages.map((m) => m.topic).sort()).toEqual([TOPICS.invalid, TOPICS.findings].sort());
    const [finding] = publisher.json(TOPICS.findings) as Array<Record<string, unknown>>;
    expect(finding).toMatchObject({ kind: 'invalid', action: 'dropped', reason: expect.any(String) });
    const [record] = publisher.json(TOPICS.invalid) as Array<{ errors: unknown[]; message: { data: string; message_id: string } }>;
    expect(record!.errors.length).toBeGreaterThan(0);
    expect(record!.message.data).toBe(body.message.data);
  });

  it('answers 500 when publishing fails, so Pub/Sub redelivers', async () => {
    const failing: Publisher = { publish: async () => Promise.reject(new Error('unavailable')) };
    const s = await serveFunction('deduplicator-failing', deduplicatorHandler({ publisher: failing, store: new MemoryDedupStore(), clock, config: DEFAULT_DEDUP_CONFIG, validation: { maxFutureMs: 300_000 }, logger: silentLogger }) as never);
    try {
      expect(await push(s.url, pushBody(JSON.stringify(cardScanned())))).toBe(500);
    } finally {
      await s.close();
    }
  });
});

describe('deduplicator over HTTP', () => {
  it('forwards, reports a duplicate, and survives a crash between claim and publish', async () => {
    let now = NOW;
    let failNext = false;
    const inner = new MemoryPublisher();
    const publisher: Publisher = {
      publish: (topic: string, m: OutboundMessage) => {
        if (failNext && topic === TOPICS.unique) {
          failNext = false;
          return Promise.reject(new Error('crash after the claim'));
        }
        return inner.publish(topic, m);
      },
    };
    const store = new MemoryDedupStore();
    const s = await serveFunction(
      'deduplicator',
      deduplicatorHandler({ publisher, store, clock: { now: () => now }, config: DEFAULT_DEDUP_CONFIG, validation: { maxFutureMs: 300_000 }, logger: silentLogger }) as never,
    );
    try {
      const event = JSON.stringify(cardScanned({ id: 'ev-1' }));
      failNext = true;
      expect(await push(s.url, pushBody(event, {}, 'raw-1'))).toBe(500);
      expect(inner.messages).toHaveLength(0);
      // Redelivered while the failed delivery's lease holds: still in flight.
      expect(await push(s.url, pushBody(event, {}, 'raw-1'))).toBe(500);
      now += DEFAULT_DEDUP_CONFIG.leaseMs + 1;
      expect(await push(s.url, pushBody(event, {}, 'raw-1'))).toBe(204);
      expect(inner.messages.map((m) => m.topic)).toEqual([TOPICS.unique]);
      // dlq-triage replayed a dead letter of that delivery: a new message that names the failed
      // delivery as its ingest id (functions/dlq-triage/core.ts, replayMessage). Within the claim's
      // lease it waits (500, redelivered); past it, no mark tells that the event was forwarded, so
      // it is forwarded again: the same bytes under the same ingest id, which consumers key on (the
      // event id) and the fault suite counts apart from a double.
      const replay = { ingest_id: 'raw-1', replay_of: 'record-1', target_subscription: 'deduplicator-events-raw' };
      now -= DEFAULT_DEDUP_CONFIG.leaseMs + 1;
      expect(await push(s.url, pushBody(event, replay, 'replay-1'))).toBe(500);
      expect(inner.messages).toHaveLength(1);
      now += 2 * (DEFAULT_DEDUP_CONFIG.leaseMs + 1);
      expect(await push(s.url, pushBody(event, replay, 'replay-1'))).toBe(204);
      const forwarded = inner.messages.filter((m) => m.topic === TOPICS.unique);
      expect(forwarded.map((m) => [m.data.toString(), m.attributes])).toEqual([0, 1].map(() => [event, expect.objectContaining({ id: 'ev-1', ingest_id: 'raw-1' })]));
      // The producer sent the event again, with an ingest_id attribute of its own: only a replay is
      // trusted with one, so this is its own delivery, and a duplicate by id.
      expect(await push(s.url, pushBody(event, { ingest_id: 'raw-1' }, 'raw-2'))).toBe(204);
      expect(inner.json(TOPICS.findings)).toEqual([
        { kind: 'duplicate', action: 'dropped', event_id: 'ev-1', type: 'card.scanned', source: '//test/producer', duplicate_of: 'ev-1', basis: 'id' },
      ]);
      // Handed on to gap-detector (its time and any sequence number count there), the event's bytes unchanged.
      const handedOn = inner.messages.filter((m) => m.topic === TOPICS.duplicates);
      expect(handedOn.map((m) => m.data.toString())).toEqual([event]);
      expect(handedOn[0]!.attributes).toMatchObject({ id: 'ev-1', type: 'card.scanned', ingest_id: 'raw-2' });
      expect(inner.messages.map((m) => m.topic)).toEqual([TOPICS.unique, TOPICS.unique, TOPICS.duplicates, TOPICS.findings]);
    } finally {
      await s.close();
    }
  });
});
