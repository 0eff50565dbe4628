import type { MemoryPublisher } from '../../shared/adapters/memory-publisher';
import { pushBody } from '../../shared/pubsub/push';
import type { MemoryTriageStore } from '../../functions/dlq-triage/store';
import { cardScanned } from '../support/events';
import { deadLetterAttributes, serveTriage, triageService } from '../support/triage';

const TOKEN = 'local-test-token-0123456789';

describe('dlq-triage over HTTP: push bodies and the operator API', () => {
  const { service, store, failures, publisher } = triageService({ config: { retentionMs: 86_400_000 } });
  const memory = store as MemoryTriageStore;
  const published = publisher as MemoryPublisher;
  let url = '';
  let pushAuthorization = '';
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ url, close, pushAuthorization } = await serveTriage('dlq-triage-contract', service, { token: TOKEN, failures }));
  });
  afterAll(() => close());

  const call = (method: string, path: string, body?: unknown, token: string | null = TOKEN) =>
    fetch(`${url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', 'x-operator': 'ann', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });

  it('stores a dead letter pushed as Pub/Sub pushes it, and an operator lists, shows and replays it', async () => {
    const body = pushBody(JSON.stringify(cardScanned({ id: 'x-1' })), { type: 'card.scanned', id: 'x-1', ...deadLetterAttributes('gap-detector-sequences') }, 'dl-77');
    const pushed = await fetch(`${url}/projects/demo/topics/dead-letters`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: pushAuthorization }, body: JSON.stringify(body) });
    expect(pushed.status).toBe(204);
    const list = (await (await call('GET', '/v1/records?state=open&class=transient')).json()) as { records: Array<{ id: string; subscription: string }> };
    expect(list.records).toHaveLength(1);
    const [r] = list.records;
    expect(r!.subscription).toBe('gap-detector-sequences');
    expect(((await (await call('GET', `/v1/records/${r!.id}`)).json()) as { reason: string }).reason).toBe('no reason recorded');
    const replayed = await call('POST', `/v1/records/${r!.id}/replay`);
    expect(replayed.status).toBe(200);
    expect(await replayed.json()).toMatchObject({ outcome: 'published', record: { state: 'replayed', replay: { by: 'token:ann' } } });
    expect((await call('POST', `/v1/records/${r!.id}/replay`)).status).toBe(409);
    const audit = (await (await call('GET', `/v1/audit?record_id=${r!.id}`)).json()) as { entries: Array<{ outcome: string }> };
    expect(audit.entries.map((e) => e.outcome)).toEqual(['ok', 'skipped']);
  });

  it('answers 401 without the token, or with a wrong one, and does nothing', async () => {
    const r = (await memory.scan({ limit: 1 }))[0]?.record;
    const before = { audits: memory.audits.length, published: published.messages.length, records: JSON.stringify([...memory.records.values()]) };
    for (const token of [null, 'wrong-token-wrong-token']) {
      expect((await call('GET', '/v1/records', undefined, token)).status).toBe(401);
      expect((await call('POST', `/v1/records/${r!.id}/discard`, { reason: 'nope nope' }, token)).status).toBe(401);
      expect((await call('POST', '/v1/bulk-replays', { filter: {} }, token)).status).toBe(401);
    }
    expect({ audits: memory.audits.length, published: published.messages.length, records: JSON.stringify([...memory.records.values()]) }).toEqual(before);
  });

  it('answers 400 for a bad body and 404 for an unknown record', async () => {
    expect((await call('POST', '/v1/records/nope/discard', { reason: 'x' })).status).toBe(400);
    expect((await call('POST', '/v1/records/nope/discard', { reason: 'long enough' })).status).toBe(404);
    expect((await call('GET', '/v1/records?class=bogus')).status).toBe(400);
  });
});
