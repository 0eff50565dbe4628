import type { Firestore } from '@google-cloud/firestore';
import { FirestoreFailureStore } from '../../shared/adapters/firestore-failures';
import { FirestoreTriageStore } from '../../functions/dlq-triage/firestore-store';
import { emulatorClients, runPrefix } from '../support/harness';
import { serveTriage, triageService } from '../support/triage';

/**
 * Odd ids in the operator API's paths and page tokens (issue 20.7), against the Firestore
 * emulator: each is a 400 or a 404 saying why, never a 500 with Firestore's own error text
 * (a `/` makes a collection path, `..` and `__x__` are reserved document ids).
 */
const TOKEN = 'integration-token-0123456789';

describe('dlq-triage API: odd ids on Firestore', () => {
  const prefix = runPrefix('ids');
  let firestore: Firestore;
  let url = '';
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ firestore } = emulatorClients());
    const { service } = triageService({ store: new FirestoreTriageStore(firestore, `${prefix}triage`), failures: new FirestoreFailureStore(firestore, `${prefix}failures`) });
    ({ url, close } = await serveTriage('dlq-triage-ids', service, { token: TOKEN, failures: new FirestoreFailureStore(firestore, `${prefix}failures`) }));
  }, 60_000);
  afterAll(async () => {
    await close();
    await firestore.terminate();
  });

  const call = (method: string, path: string, body?: unknown) =>
    fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });

  // Every row has its body (or undefined): a callback taking more arguments than a row has is
  // given Jest's done callback.
  it.each<[string, string, unknown]>([
    ['GET', '/v1/records/a%2Fb', undefined],
    ['GET', '/v1/records/%2E%2E', undefined],
    ['GET', '/v1/records/..', undefined],
    ['GET', '/v1/records/__proto__', undefined],
    ['GET', '/v1/records/__name__', undefined],
    ['GET', '/v1/records/%E0%A4%A', undefined],
    ['POST', '/v1/records/a%2Fb/replay', undefined],
    ['POST', '/v1/records/__proto__/discard', { reason: 'odd id' }],
    ['POST', '/v1/records/%2E%2E/fix', { patch: { id: 'x' } }],
    ['GET', '/v1/bulk-replays/..%2F..%2Fx', undefined],
    ['POST', '/v1/bulk-replays/__proto__/run', {}],
    ['POST', '/v1/bulk-replays/a%2Fb/stop', undefined],
    ['GET', '/v1/records?page_token=%2F%2F', undefined],
    ['GET', '/v1/records?page_token=__proto__', undefined],
    ['GET', '/v1/audit?page_token=%2F%2F', undefined],
    ['GET', '/v1/audit?record_id=a%2Fb', undefined],
  ])('%s %s answers 400 or 404 without Firestore text', async (method, path, body) => {
    const res = await call(method, path, body);
    const text = await res.text();
    expect({ path, refused: [400, 404].includes(res.status) ? 'with 400 or 404' : `with ${res.status}: ${text}` }).toEqual({ path, refused: 'with 400 or 404' });
    expect(text).not.toMatch(/INVALID_ARGUMENT|must point to|Path must|resource path|__.*__ is|odd number|Firestore/i);
  });
});
