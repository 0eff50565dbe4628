import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Firestore } from '@google-cloud/firestore';
import { FirestoreFailureStore } from '../../shared/adapters/firestore-failures';
import { MemoryFailureStore } from '../../shared/adapters/memory-failures';
import { mergeFailure, type FailureReport } from '../../shared/failures';
import { derivedId } from '../../shared/ids';
import { emulatorClients, runPrefix } from '../support/harness';
import { ensureBuilt } from '../support/build';

const ROOT = join(__dirname, '..', '..');

/**
 * A function instance (the built failure store, in a process of its own) that records a failure
 * and is killed (SIGKILL) as soon as its first Firestore call has been answered, in a transaction
 * or not: what an instance that dies in the middle of recording leaves behind (ci20: a
 * call-duration-checker killed by the fault suite while its other request was recording; every
 * later attempt of the poison message then failed to record, and it was dead-lettered with no
 * reason). Arguments: the repository, the collection, the report as JSON.
 */
const DIE_MID_RECORD = `
const [root, collection, reportJson] = process.argv.slice(1);
const { Firestore, Transaction, WriteBatch } = require(require.resolve('@google-cloud/firestore', { paths: [root] }));
const die = (method) => async function (...args) {
  await method.apply(this, args);
  process.stderr.write('first call answered; dying\\n', () => process.kill(process.pid, 'SIGKILL'));
  return new Promise(() => undefined);
};
Transaction.prototype.get = die(Transaction.prototype.get);
WriteBatch.prototype.commit = die(WriteBatch.prototype.commit);
const { FirestoreFailureStore } = require(root + '/dist/shared/adapters/firestore-failures');
void new FirestoreFailureStore(new Firestore(), collection).record(JSON.parse(reportJson), Date.now() + 86400000);
`;

const report = (over: Partial<FailureReport>): FailureReport => ({
  key: 'call-duration-checker-calls:abc',
  function: 'call-duration-checker',
  subscription: 'call-duration-checker-calls',
  message_id: 'm-1',
  event_id: 'ev-1',
  class: 'transient',
  error_class: 'UpstreamError',
  code: 'TWILIO_UNAVAILABLE',
  message: 'twilio: 503',
  at: '2026-03-01T12:00:00.000Z',
  ...over,
});

describe('failure records in Firestore (the boundary records, triage reads)', () => {
  let firestore: Firestore;
  const prefix = runPrefix('failures');
  let n = 0;
  const store = () => new FirestoreFailureStore(firestore, `${prefix}failures-${n++}`);

  beforeAll(() => {
    ensureBuilt();
    ({ firestore } = emulatorClients());
  });
  afterAll(() => firestore.terminate());

  it('an instance killed in the middle of recording leaves nothing that stops the next attempt from being recorded', async () => {
    const collection = `${prefix}failures-killed`;
    const dead = spawnSync(process.execPath, ['-e', DIE_MID_RECORD, ROOT, collection, JSON.stringify(report({ class: 'poison', error_class: 'SyntaxError', message: 'Unterminated string in JSON' }))], {
      encoding: 'utf8',
      env: process.env,
    });
    expect({ signal: dead.signal, said: dead.stderr.trim().split('\n').at(-1) }).toEqual({ signal: 'SIGKILL', said: 'first call answered; dying' });
    const failures = new FirestoreFailureStore(firestore, collection);
    await failures.record(report({ class: 'poison', error_class: 'SyntaxError', message: 'Unterminated string in JSON', at: '2026-03-01T12:00:10.000Z' }), Date.now() + 86_400_000);
    await expect(failures.get(report({}).key)).resolves.toMatchObject({ class: 'poison', error_class: 'SyntaxError', last_at: '2026-03-01T12:00:10.000Z' });
  }, 120_000);

  it('reads what the in-memory store merges, from the same reports in the same order', async () => {
    const reports = [
      report({ at: '2026-03-01T12:00:00.000Z' }),
      report({ class: 'poison', error_class: 'SyntaxError', message: 'bad body', at: '2026-03-01T12:00:05.000Z' }),
      report({ message: 'twilio: 503 again', at: '2026-03-01T12:00:20.000Z' }),
    ];
    const firestoreStore = store();
    const memory = new MemoryFailureStore();
    for (const r of reports) {
      await firestoreStore.record(r, Date.now() + 86_400_000);
      await memory.record(r);
    }
    const expected = await memory.get(reports[0]!.key);
    expect(expected).toMatchObject({ attempts: 3, class: 'poison', first_at: '2026-03-01T12:00:00.000Z', last_at: '2026-03-01T12:00:20.000Z' });
    await expect(firestoreStore.get(reports[0]!.key)).resolves.toEqual(expected);
    await expect(firestoreStore.get('another-key')).resolves.toBeUndefined();
  });

  it('reads a record written as one merged document per key (before 2026-12-07) as the attempts before the new ones', async () => {
    const collection = `${prefix}failures-legacy`;
    const earlier = mergeFailure(mergeFailure(undefined, report({ at: '2026-03-01T11:00:00.000Z' })), report({ class: 'poison', error_class: 'SyntaxError', at: '2026-03-01T11:00:30.000Z' }));
    await firestore.collection(collection).doc(derivedId('failure', earlier.key)).set({ record: JSON.stringify(earlier) });
    const failures = new FirestoreFailureStore(firestore, collection);
    await failures.record(report({ at: '2026-03-01T12:00:00.000Z' }), Date.now() + 86_400_000);
    await expect(failures.get(earlier.key)).resolves.toEqual(mergeFailure(earlier, report({ at: '2026-03-01T12:00:00.000Z' })));
    await expect(failures.get(earlier.key)).resolves.toMatchObject({ attempts: 3, class: 'poison', first_at: '2026-03-01T11:00:00.000Z', last_at: '2026-03-01T12:00:00.000Z' });
  });

  it('counts every attempt of concurrent failing deliveries', async () => {
    const failures = store();
    await Promise.all(Array.from({ length: 12 }, (_, i) => failures.record(report({ message_id: 'm-1', at: new Date(Date.parse('2026-03-01T12:00:00Z') + i).toISOString() }), Date.now() + 86_400_000)));
    await expect(failures.get(report({}).key)).resolves.toMatchObject({ attempts: 12, first_at: '2026-03-01T12:00:00.000Z', last_at: '2026-03-01T12:00:00.011Z' });
  });
});
