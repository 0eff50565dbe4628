import * as ff from '@google-cloud/functions-framework';
import { REGISTRY } from '../../functions/registry';
import { pushBody } from '../../shared/pubsub/push';
import { topology } from '../../shared/topology';
import { serveFunction, serveRegistered } from '../support/harness';

/**
 * Requests that no Pub/Sub push sends, through the Functions Framework as the functions are
 * registered (issue 20.8). The framework's own event middleware answered 500 to a GET, a
 * text/plain body, a body without a content type and `{"context":…}` shapes before any project
 * code ran, and Pub/Sub retries every non-2xx: each gets a 4xx with its reason now, and never
 * reaches the handler; a well-formed push is handed over exactly as the framework hands it over.
 */
const TOPIC_PATH = '/projects/demo/topics/events-raw';
const PUSH = JSON.stringify(pushBody('{"id":"e-1"}', { origin: 'scanner' }, 'm-1', 'projects/demo/subscriptions/validator'));

/** What no push sends: [name, request, the status it gets, what its reason says]. */
const NOT_A_PUSH: Array<[string, RequestInit, number, RegExp]> = [
  ['a GET', { method: 'GET' }, 405, /POST/],
  ['a DELETE', { method: 'DELETE' }, 405, /POST/],
  ['a text/plain body', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: PUSH }, 415, /application\/json/],
  ['a body without a content type', { method: 'POST', body: new Blob([PUSH]) }, 415, /application\/json/],
  ['a form body', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'message=1' }, 415, /application\/json/],
  ['a structured CloudEvent', { method: 'POST', headers: { 'content-type': 'application/cloudevents+json' }, body: '{"specversion":"1.0","id":"1","source":"x","type":"t"}' }, 415, /application\/json/],
  ['{"context":null}', json('{"context":null}'), 400, /not a Pub\/Sub push body/],
  ['{"context":null,"data":{}}', json('{"context":null,"data":{}}'), 400, /not a Pub\/Sub push body/],
  ['{"context":"x","data":1}', json('{"context":"x","data":1}'), 400, /not a Pub\/Sub push body/],
  ['a background event', json('{"eventType":"providers/cloud.pubsub/eventTypes/topic.publish","resource":"x","data":null}'), 400, /not a Pub\/Sub push body/],
  ['{}', json('{}'), 400, /not a Pub\/Sub push body/],
  ['an array', json('[{"message":{}}]'), 400, /not a Pub\/Sub push body/],
  ['a message that is not an object', json('{"message":"hello","subscription":"projects/p/subscriptions/s"}'), 400, /not a Pub\/Sub push body/],
];

function json(body: string): RequestInit {
  return { method: 'POST', headers: { 'content-type': 'application/json' }, body };
}

async function send(url: string, init: RequestInit): Promise<{ status: number; text: string; allow: string | null }> {
  const res = await fetch(`${url}${TOPIC_PATH}`, init);
  return { status: res.status, text: await res.text(), allow: res.headers.get('allow') };
}

describe('a request no Pub/Sub push sends, through the Functions Framework', () => {
  const seen: unknown[] = [];
  let server: { url: string; close: () => Promise<void> };
  beforeAll(async () => {
    server = await serveFunction('push-requests', async (ce) => void seen.push(ce));
  });
  afterAll(() => server.close());
  beforeEach(() => seen.splice(0));

  it.each(NOT_A_PUSH)('%s: answered 4xx with its reason, never 500, and the handler is not called', async (_name, init, status, reason) => {
    const res = await send(server.url, init);
    expect(res.status).toBe(status);
    expect(res.text).toMatch(reason);
    if (status === 405) expect(res.allow).toBe('POST');
    expect(seen).toEqual([]);
  });

  it('a well-formed push still reaches the handler (204)', async () => {
    expect((await send(server.url, json(PUSH))).status).toBe(204);
    expect(seen).toHaveLength(1);
  });
});

/**
 * The same handler registered as the framework's own CloudEvent function and as the project
 * registers it: every well-formed push (with data, data-less as GCP and as the emulator send
 * it, without a subscription, at a path without a topic, with a traceparent) is handed over as
 * the same object and answered with the same status, and a thrown handler answers as before.
 */
describe('a well-formed push: handed over exactly as the Functions Framework hands over a CloudEvent', () => {
  const got: Record<'framework' | 'project', unknown[]> = { framework: [], project: [] };
  let fail = false;
  const recorder = (into: unknown[]) => async (ce: unknown) => {
    into.push(JSON.parse(JSON.stringify(ce)));
    if (fail) throw new Error('transient: try again');
  };
  let framework: { url: string; close: () => Promise<void> };
  let project: { url: string; close: () => Promise<void> };
  beforeAll(async () => {
    framework = await listen('as-cloud-event', () => ff.cloudEvent('as-cloud-event', recorder(got.framework)));
    project = await serveFunction('as-project', recorder(got.project));
  });
  afterAll(async () => {
    await framework.close();
    await project.close();
  });
  beforeEach(() => {
    got.framework.splice(0);
    got.project.splice(0);
    fail = false;
  });

  const wrapped = (m: Record<string, unknown>, rest: Record<string, unknown> = { subscription: 'projects/demo/subscriptions/validator' }) => JSON.stringify({ message: m, ...rest });
  const base = { messageId: 'm-7', message_id: 'm-7', publishTime: '2026-03-01T11:59:00.123Z', publish_time: '2026-03-01T11:59:00.123Z' };
  const cases: Array<[string, string, string, Record<string, string>]> = [
    ['with data and attributes', TOPIC_PATH, wrapped({ ...base, data: 'eyJpZCI6ImUtMSJ9', attributes: { type: 'card.scanned', id: 'e-1' } }, { subscription: 'projects/demo/subscriptions/validator', deliveryAttempt: 3 }), {}],
    ['with data, no attributes', TOPIC_PATH, wrapped({ ...base, data: 'e30=' }), {}],
    ['data-less (GCP leaves data out)', TOPIC_PATH, wrapped({ ...base, attributes: { origin: 'scanner' } }), {}],
    ['data-less (the emulator sends "")', TOPIC_PATH, wrapped({ ...base, data: '', attributes: { origin: 'scanner' } }), {}],
    ['without a subscription', TOPIC_PATH, wrapped({ ...base, data: 'e30=' }, {}), {}],
    ['at a path without a topic', '/', wrapped({ ...base, data: 'e30=' }), {}],
    ['with an ordering key', TOPIC_PATH, wrapped({ ...base, data: 'e30=', orderingKey: 'k' }), {}],
    ['with non-string attribute values', TOPIC_PATH, wrapped({ ...base, data: 'e30=', attributes: { a: 1, b: null } }), {}],
    ['with a traceparent', TOPIC_PATH, wrapped({ ...base, data: 'e30=' }), { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }],
    ['with a charset', TOPIC_PATH, wrapped({ ...base, data: 'e30=' }), { 'content-type': 'application/json; charset=utf-8' }],
  ];

  it.each(cases)('%s', async (_name, path, body, headers) => {
    for (const throws of [false, true]) {
      fail = throws;
      const init = { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body };
      const [a, b] = await Promise.all([fetch(`${framework.url}${path}`, init), fetch(`${project.url}${path}`, init)]);
      expect({ status: b.status, status_header: b.headers.get('x-google-status'), text: await b.text() }).toEqual({
        status: a.status,
        status_header: a.headers.get('x-google-status'),
        text: await a.text(),
      });
      expect(a.status).toBe(throws ? 500 : 204);
    }
    expect(got.project).toEqual(got.framework);
    expect(got.project).toHaveLength(2);
  });
});

/** Each Pub/Sub function of the manifest as its composition root registers it (dlq-triage reads its own pushes). */
describe('every Pub/Sub function, registered by its composition root', () => {
  const pushFunctions = topology.functions.filter((f) => !f.operatorApi && Object.hasOwn(REGISTRY, f.name)).map((f) => f.name);
  const env = { GOOGLE_CLOUD_PROJECT: 'push-requests', METADATA_SERVER_DETECTION: 'none', VOLUME_DATASET: 'volume', OXR_APP_ID: 'unused-here' };

  it('covers the manifest', () => expect(pushFunctions.sort()).toEqual(['call-duration-checker', 'crm-checker', 'deduplicator', 'gap-detector', 'revenue-checker', 'volume-monitor']));

  it.each(pushFunctions)('%s answers what no push sends with a 4xx, never 500', async (name) => {
    const served = await listen(name, () => REGISTRY[name]!(env));
    try {
      for (const [what, init, status] of NOT_A_PUSH) expect([what, (await send(served.url, init)).status]).toEqual([what, status]);
    } finally {
      await served.close();
    }
  });
});

async function listen(name: string, register: () => void): Promise<{ url: string; close: () => Promise<void> }> {
  register();
  return serveRegistered(name);
}
