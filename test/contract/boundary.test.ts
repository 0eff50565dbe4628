import { MemoryFailureStore } from '../../shared/adapters/memory-failures';
import { withBoundary } from '../../shared/boundary';
import { DEAD_LETTER_ATTRIBUTES, failureKey, REPLAY_OF, TARGET_SUBSCRIPTION } from '../../shared/dead-letters';
import { TransientError } from '../../shared/errors';
import type { FailureStore } from '../../shared/failures';
import { jsonLogger } from '../../shared/log';
import { pushBody } from '../../shared/pubsub/push';
import { serveFunction } from '../support/harness';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const clock = { now: () => NOW };

async function push(url: string, topic: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}/projects/demo/topics/${topic}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return res.status;
}

describe('the shared error boundary, over HTTP with raw Pub/Sub push bodies', () => {
  const lines: string[] = [];
  const logger = jsonLogger((l) => lines.push(l));
  const failures = new MemoryFailureStore();
  let calls = 0;
  let fail: () => never = () => {
    throw new Error('unset');
  };
  let server: { url: string; close: () => Promise<void> };
  beforeAll(async () => {
    const handler = async () => {
      calls += 1;
      fail();
    };
    server = await serveFunction('boundary-revenue', withBoundary('revenue-checker', handler as never, { failures, logger, clock, project: 'demo' }) as never);
  });
  afterAll(() => server.close());
  beforeEach(() => {
    lines.splice(0);
    failures.records.clear();
    failures.replays.clear();
    calls = 0;
  });

  it('logs one structured ERROR entry and records a transient failure under the key triage recomputes from the dead-lettered copy', async () => {
    fail = () => {
      throw new TransientError('stripe: 503 from the API', 'STRIPE_503', { eventId: 'ev-9' }, { cause: new Error('socket hang up for ann@example.com') });
    };
    const body = pushBody('{"id":"ev-9"}', { type: 'sale.recorded', id: 'ev-9' }, 'm-1');
    const trace = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    expect(await push(server.url, 'events-unique', body, { traceparent: trace })).toBe(500);
    expect(await push(server.url, 'events-unique', body, { traceparent: trace })).toBe(500);

    const errors = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.severity === 'ERROR');
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatchObject({
      function: 'revenue-checker',
      subscription: 'revenue-checker-sales',
      message_id: 'm-1',
      event_id: 'ev-9',
      error_class: 'TransientError',
      failure_class: 'transient',
      code: 'STRIPE_503',
      context: { eventId: 'ev-9' },
      cause: 'Error: socket hang up for a***@example.com',
      'logging.googleapis.com/trace': 'projects/demo/traces/0af7651916cd43dd8448eb211c80319c',
    });

    // The dead-lettered copy: same data and producer attributes, plus what Pub/Sub adds.
    const copy = {
      ...body.message.attributes,
      [DEAD_LETTER_ATTRIBUTES.subscription]: 'projects/demo/subscriptions/revenue-checker-sales',
      [DEAD_LETTER_ATTRIBUTES.deliveryCount]: '5',
    };
    const record = await failures.get(failureKey('revenue-checker-sales', body.message.data, copy));
    expect(record).toMatchObject({ class: 'transient', code: 'STRIPE_503', attempts: 2, function: 'revenue-checker', event_id: 'ev-9' });
  });

  it('records an unexpected exception as poison', async () => {
    fail = () => {
      throw new TypeError("Cannot read properties of undefined (reading 'amount')");
    };
    const body = pushBody('{}', { type: 'sale.recorded' }, 'm-2');
    expect(await push(server.url, 'events-unique', body)).toBe(500);
    const [record] = [...failures.records.values()];
    expect(record).toMatchObject({ class: 'poison', error_class: 'TypeError', subscription: 'revenue-checker-sales', attempts: 1 });
  });

  it('still answers 500 when the failure store fails or hangs: recording never turns a failure into an ack', async () => {
    const broken: FailureStore = { record: () => Promise.reject(new Error('firestore down')), get: async () => undefined, admitReplay: async () => true };
    const hanging: FailureStore = { record: () => new Promise(() => undefined), get: async () => undefined, admitReplay: async () => true };
    const handler = async () => {
      throw new TransientError('boom', 'X');
    };
    for (const [name, store] of [
      ['boundary-broken', broken],
      ['boundary-hanging', hanging],
    ] as const) {
      const s = await serveFunction(name, withBoundary('validator', handler, { failures: store, logger, clock, recordTimeoutMs: 50 }) as never);
      try {
        expect(await push(s.url, 'events-raw', pushBody('{}'))).toBe(500);
      } finally {
        await s.close();
      }
    }
    expect(lines.some((l) => l.includes('could not be recorded'))).toBe(true);
  });

  it('acks unread a triage replay aimed at another subscription of the topic, and handles one aimed at its own', async () => {
    fail = () => {
      throw new TransientError('x', 'X');
    };
    expect(await push(server.url, 'events-unique', pushBody('{}', { [TARGET_SUBSCRIPTION]: 'gap-detector-chains' }))).toBe(204);
    expect(calls).toBe(0);
    expect(await push(server.url, 'events-unique', pushBody('{}', { [TARGET_SUBSCRIPTION]: 'revenue-checker-sales' }))).toBe(500);
    expect(calls).toBe(1);
  });

  it('handles one message of a replay published twice, and every redelivery of that message', async () => {
    let failing = true;
    fail = (() => {
      if (failing) throw new TransientError('stripe: 503', 'STRIPE_503');
    }) as () => never;
    const replay = { [TARGET_SUBSCRIPTION]: 'revenue-checker-sales', [REPLAY_OF]: 'rec-1', type: 'sale.recorded', id: 'ev-r' };
    // The first publish fails and is redelivered: each delivery of it is handled.
    expect(await push(server.url, 'events-unique', pushBody('{"id":"ev-r"}', replay, 'replay-msg-1'))).toBe(500);
    failing = false;
    expect(await push(server.url, 'events-unique', pushBody('{"id":"ev-r"}', replay, 'replay-msg-1'))).toBe(204);
    expect(calls).toBe(2);
    // A second publish of the same replay (a publish that outlived its claim): acked unread.
    expect(await push(server.url, 'events-unique', pushBody('{"id":"ev-r"}', replay, 'replay-msg-2'))).toBe(204);
    expect(calls).toBe(2);
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.replay_of === 'rec-1')).toMatchObject([{ severity: 'NOTICE', message_id: 'replay-msg-2' }]);
    // Another replay (another record) of the same event is handled.
    expect(await push(server.url, 'events-unique', pushBody('{"id":"ev-r"}', { ...replay, [REPLAY_OF]: 'rec-2' }, 'replay-msg-3'))).toBe(204);
    expect(calls).toBe(3);
  });

  it('never acks a replay unread when the store that tells repeats apart fails: it is redelivered', async () => {
    const broken: FailureStore = { record: async () => undefined, get: async () => undefined, admitReplay: () => Promise.reject(new Error('firestore down')) };
    let handled = 0;
    const s = await serveFunction('boundary-replay-broken', withBoundary('revenue-checker', (async () => void (handled += 1)) as never, { failures: broken, logger, clock }) as never);
    try {
      expect(await push(s.url, 'events-unique', pushBody('{}', { [TARGET_SUBSCRIPTION]: 'revenue-checker-sales', [REPLAY_OF]: 'rec-9' }, 'm-9'))).toBe(500);
      expect(handled).toBe(0);
    } finally {
      await s.close();
    }
  });
});
