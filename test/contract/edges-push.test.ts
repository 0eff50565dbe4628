import { MemoryPublisher } from '../../shared/adapters/memory-publisher';
import { silentLogger } from '../../shared/log';
import { pushBody } from '../../shared/pubsub/push';
import { TOPICS } from '../../shared/topology';

import { deduplicatorHandler } from '../../functions/deduplicator/handler';
import { MemoryDedupStore } from '../../functions/deduplicator/state';
import { DEFAULT_DEDUP_CONFIG } from '../../functions/deduplicator/core';
import { serveFunction } from '../support/harness';
import { CloudEvent } from 'cloudevents';
import { decodeEvent } from '../../shared/events/decode';
import { cardScanned, leadTagged, saleRecorded } from '../support/events';

/** Issue 20's edges through the deduplicator's validation as GCP serves it: a Pub/Sub push body into the Functions Framework. */
const NOW = Date.parse('2026-03-01T12:00:00Z');
const TOPIC_PATH = '/projects/demo/topics/events-raw';

describe('validation in the deduplicator: what a push can make ambiguous', () => {
  const publisher = new MemoryPublisher();
  let server: { url: string; close: () => Promise<void> };
  const push = async (bytes: string | Buffer, id = 'raw-1') => {
    const body = pushBody(bytes, {}, id);
    const res = await fetch(`${server.url}${TOPIC_PATH}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return res.status;
  };
  const findings = () => publisher.json(TOPICS.findings) as Array<Record<string, unknown>>;

  beforeAll(async () => {
    server = await serveFunction('deduplicator-edges', deduplicatorHandler({ publisher, store: new MemoryDedupStore(), clock: { now: () => NOW }, config: DEFAULT_DEDUP_CONFIG, validation: { maxFutureMs: 300_000 }, logger: silentLogger }) as never);
  });
  afterAll(() => server.close());
  beforeEach(() => publisher.messages.splice(0));

  it.each([
    ['type', (s: string) => `{"type":"lead.deleted",${s.slice(1)}`],
    ['id', (s: string) => s.replace('"id":"s-1"', '"id":"s-1","id":"s-2"')],
    ['time', (s: string) => s.replace('"time":', '"time":"2099-01-01T00:00:00Z","time":')],
  ])('routes an event with a repeated %s to events-invalid, naming the key, and forwards nothing', async (key, edit) => {
    const bytes = edit(JSON.stringify(saleRecorded({ id: 's-1' })));
    expect(await push(bytes)).toBe(204);
    expect(publisher.messages.filter((m) => m.topic === TOPICS.unique)).toEqual([]);
    expect(findings()).toEqual([expect.objectContaining({ kind: 'invalid', action: 'dropped', reason: expect.stringMatching(new RegExp(`^${key}: appears more than once in one object`)) })]);
  });

  /** What the official cloudevents SDK writes for data given as bytes: `data_base64`. */
  const sdkBinary = () => {
    const { data, ...attributes } = leadTagged({ id: 'ce-1', time: '2026-03-01T11:00:00Z', data: { lead_id: 'lead-1', tags: ['vip'] } });
    return JSON.stringify(new CloudEvent({ ...attributes, datacontenttype: 'application/json', data: Buffer.from(JSON.stringify(data)) }));
  };

  it('accepts data_base64 as the cloudevents SDK emits it, forwards the bytes, and downstream reads the same event', async () => {
    const bytes = sdkBinary();
    expect(bytes).toContain('"data_base64":');
    expect(await push(bytes)).toBe(204);
    expect(findings()).toEqual([]);
    const [forwarded] = publisher.messages.filter((m) => m.topic === TOPICS.unique);
    expect(forwarded!.data.toString()).toBe(bytes);
    expect(forwarded!.attributes).toMatchObject({ type: 'lead.tagged', id: 'ce-1' });
    expect(decodeEvent(forwarded!.data)).toMatchObject({ ok: true, event: { id: 'ce-1', data: { lead_id: 'lead-1', tags: ['vip'] } } });
  });

  it('rejects an event with both data and data_base64', async () => {
    expect(await push(sdkBinary().replace('"data_base64"', '"data":{"lead_id":"other","tags":["x"]},"data_base64"'))).toBe(204);
    expect(publisher.messages.filter((m) => m.topic === TOPICS.unique)).toEqual([]);
    expect(findings()).toEqual([expect.objectContaining({ kind: 'invalid', reason: 'has both data and data_base64: a CloudEvent carries one or the other (CloudEvents JSON format §3.1.1)' })]);
  });

  it('rejects a message that starts with a byte-order mark, naming it in the reason', async () => {
    expect(await push(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(saleRecorded({ id: 's-bom' })))]))).toBe(204);
    expect(publisher.messages.filter((m) => m.topic === TOPICS.unique)).toEqual([]);
    const [finding] = findings();
    expect(finding).toMatchObject({ kind: 'invalid', reason: 'starts with a byte-order mark (U+FEFF): a JSON text sent over a network must not (RFC 8259 §8.1)' });
  });

  it('rejects 23:59:60 on a day without a leap second', async () => {
    expect(await push(JSON.stringify(saleRecorded({ id: 's-leap', time: '2026-02-28T23:59:60Z' })))).toBe(204);
    expect(findings()).toEqual([expect.objectContaining({ kind: 'invalid', reason: expect.stringMatching(/^time: has second 60/) })]);
  });
});

describe('deduplicator: business keys compared after Unicode NFC normalisation', () => {
  it('drops a second card.scanned whose card_id is the first one decomposed (NFD)', async () => {
    const publisher = new MemoryPublisher();
    const s = await serveFunction(
      'deduplicator-nfc',
      deduplicatorHandler({ publisher, store: new MemoryDedupStore(), clock: { now: () => NOW }, config: DEFAULT_DEDUP_CONFIG, validation: { maxFutureMs: 300_000 }, logger: silentLogger }) as never,
    );
    try {
      const composed = 'card-caf\u00e9';
      const decomposed = 'card-cafe\u0301';
      expect(composed).not.toBe(decomposed);
      const push = async (event: object, id: string) => {
        const res = await fetch(`${s.url}/projects/demo/topics/events-valid`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(pushBody(JSON.stringify(event), { ingest_id: id }, id)) });
        return res.status;
      };
      expect(await push(cardScanned({ id: 'scan-1', data: { card_id: composed } }), 'r-1')).toBe(204);
      expect(await push(cardScanned({ id: 'scan-2', time: '2026-03-01T11:00:00Z', data: { card_id: decomposed } }), 'r-2')).toBe(204);
      expect(publisher.messages.filter((m) => m.topic === TOPICS.unique)).toHaveLength(1);
      expect(publisher.json(TOPICS.findings)).toEqual([expect.objectContaining({ kind: 'duplicate', event_id: 'scan-2', duplicate_of: 'scan-1', basis: 'business_key' })]);
    } finally {
      await s.close();
    }
  });
});
