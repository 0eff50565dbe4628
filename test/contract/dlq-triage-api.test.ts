import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as ff from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { MemoryFailureStore } from '../../shared/adapters/memory-failures';
import { MemoryPublisher } from '../../shared/adapters/memory-publisher';
import { withBoundary } from '../../shared/boundary';
import { DEAD_LETTER_ATTRIBUTES } from '../../shared/dead-letters';
import { silentLogger } from '../../shared/log';
import { pushBody } from '../../shared/pubsub/push';
import { topology } from '../../shared/topology';
import { triageHttp } from '../../functions/dlq-triage/api';
import { triageHandler } from '../../functions/dlq-triage/handler';
import { TriageService } from '../../functions/dlq-triage/service';
import { MemoryTriageStore } from '../../functions/dlq-triage/store';
import { cardScanned } from '../support/events';

const TOKEN = 'local-test-token-0123456789';

describe('dlq-triage over HTTP: push bodies and the operator API', () => {
  const store = new MemoryTriageStore();
  const publisher = new MemoryPublisher();
  let url = '';
  let server: Server;
  beforeAll(async () => {
    const clock = { now: () => Date.now() };
    const failures = new MemoryFailureStore();
    const service = new TriageService({
      store,
      failures,
      publisher,
      clock,
      logger: silentLogger,
      topology,
      config: { prefix: '', retentionMs: 86_400_000, claimMs: 60_000, maxFutureMs: 300_000 },
    });
    const push = withBoundary('dlq-triage', triageHandler(service, ''), { failures, logger: silentLogger, clock });
    ff.http('dlq-triage-contract', triageHttp({ service, auth: { mode: 'token', token: TOKEN }, logger: silentLogger, push }));
    server = getTestServer('dlq-triage-contract') as Server;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const call = (method: string, path: string, body?: unknown, token: string | null = TOKEN) =>
    fetch(`${url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', 'x-operator': 'ann', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });

  it('stores a dead letter pushed as Pub/Sub pushes it, and an operator lists, shows and replays it', async () => {
    const body = pushBody(JSON.stringify(cardScanned({ id: 'x-1' })), {
      type: 'card.scanned',
      id: 'x-1',
      [DEAD_LETTER_ATTRIBUTES.subscription]: 'projects/demo/subscriptions/gap-detector-sequences',
      [DEAD_LETTER_ATTRIBUTES.deliveryCount]: '5',
    }, 'dl-77');
    const pushed = await fetch(`${url}/projects/demo/topics/dead-letters`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
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
    const r = (await store.scan({ limit: 1 }))[0]?.record;
    const before = { audits: store.audits.length, published: publisher.messages.length, records: JSON.stringify([...store.records.values()]) };
    for (const token of [null, 'wrong-token-wrong-token']) {
      expect((await call('GET', '/v1/records', undefined, token)).status).toBe(401);
      expect((await call('POST', `/v1/records/${r!.id}/discard`, { reason: 'nope nope' }, token)).status).toBe(401);
      expect((await call('POST', '/v1/bulk-replays', { filter: {} }, token)).status).toBe(401);
    }
    expect({ audits: store.audits.length, published: publisher.messages.length, records: JSON.stringify([...store.records.values()]) }).toEqual(before);
  });

  it('answers 400 for a bad body and 404 for an unknown record', async () => {
    expect((await call('POST', '/v1/records/nope/discard', { reason: 'x' })).status).toBe(400);
    expect((await call('POST', '/v1/records/nope/discard', { reason: 'long enough' })).status).toBe(404);
    expect((await call('GET', '/v1/records?class=bogus')).status).toBe(400);
  });
});
