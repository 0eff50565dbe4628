import type { Firestore } from '@google-cloud/firestore';
import type { PubSub } from '@google-cloud/pubsub';
import { CrmEnv, crmsFromEnv } from '../../shared/adapters/external';
import { FirestoreFailureStore } from '../../shared/adapters/firestore-failures';
import { FirestoreOutcomeLedger } from '../../shared/adapters/firestore-ledger';
import { ensureTopology } from '../../shared/adapters/pubsub-admin';
import { PubSubPublisher } from '../../shared/adapters/pubsub-publisher';
import { withBoundary } from '../../shared/boundary';
import { failureKey } from '../../shared/dead-letters';
import { silentLogger } from '../../shared/log';
import { systemClock } from '../../shared/ports';
import { eventAttributes } from '../../shared/publish';
import { topology, TOPICS } from '../../shared/topology';
import { DEFAULT_CRM_CONFIG, NAME } from '../../functions/crm-checker/core';
import { crmCheckerHandler } from '../../functions/crm-checker/handler';
import { startHubSpotFake } from '../../tools/local/fakes/hubspot';
import type { FakeServer } from '../../tools/local/fakes/http';
import { startSalesforceFake } from '../../tools/local/fakes/salesforce';
import { PushGateway } from '../../tools/local/push-gateway';
import { crmSynced } from '../support/events';
import { CountingPublisher, emulatorClients, handledCount, Observer, runPrefix, serveFunction } from '../support/harness';

const EMAIL = 'grace.hopper@example.org';
const PHONE = '+14155550177';
const LEAD_GONE = '00Q5e00000GoneXAAA';

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('events-unique → crm-checker → findings, on the emulators, against the CRM stand-ins', () => {
  const prefix = runPrefix('crm');
  let pubsub: PubSub;
  let firestore: Firestore;
  let failures: FirestoreFailureStore;
  const closers: Array<() => Promise<void>> = [];
  let fakes: FakeServer[] = [];
  let findings: Observer;
  let deadLetters: Observer;
  let publisher: CountingPublisher;
  let gateway: PushGateway;

  beforeAll(async () => {
    ({ pubsub, firestore } = emulatorClients());
    const hubspot = await startHubSpotFake({
      accessToken: 'pat-it',
      contacts: {
        '301': { email: PHONE, phone: EMAIL },
        '302': { email: 'Grace.Hopper@Example.org', phone: '(415) 555-0177' },
        '303': { fault: 'server_error', status: 503 },
      },
    });
    const salesforce = await startSalesforceFake({ accessToken: 'sf-it', records: {} });
    fakes = [hubspot, salesforce];
    const env = CrmEnv.parse({ HUBSPOT_ACCESS_TOKEN: 'pat-it', HUBSPOT_API_BASE: hubspot.url, SALESFORCE_INSTANCE_URL: salesforce.url, SALESFORCE_ACCESS_TOKEN: 'sf-it' });
    failures = new FirestoreFailureStore(firestore, `${prefix}failures`);
    publisher = new CountingPublisher(new PubSubPublisher(pubsub, prefix));
    const handler = crmCheckerHandler({
      publisher,
      ledger: new FirestoreOutcomeLedger(firestore, `${prefix}outcomes`),
      clock: systemClock,
      logger: silentLogger,
      retentionMs: 30 * 86_400_000,
      config: DEFAULT_CRM_CONFIG,
      crms: crmsFromEnv(env, { clock: systemClock }),
    });
    const served = await serveFunction(NAME, withBoundary(NAME, handler as never, { failures, logger: silentLogger, clock: systemClock, prefix }) as never);
    closers.push(served.close);
    const subscriptions = await ensureTopology(pubsub, topology, { prefix, only: (s) => s.function === NAME });
    gateway = await PushGateway.start({ pubsub, prefix, subscriptions, endpoint: () => served.url });
    closers.unshift(() => gateway.close());
    findings = await Observer.on(pubsub, prefix + TOPICS.findings, `${prefix}obs-findings`);
    deadLetters = await Observer.on(pubsub, `${prefix}dead-letters`, `${prefix}obs-dead-letters`);
  });

  afterAll(async () => {
    await Promise.all([findings, deadLetters].map((o) => o?.close()));
    for (const close of closers) await close();
    await Promise.all(fakes.map((f) => f.close()));
    await pubsub.close();
    await firestore.terminate();
  });

  const publish = (event: { id: string; type: string; source: string }) =>
    pubsub.topic(prefix + TOPICS.unique).publishMessage({ json: event, attributes: eventAttributes(event) });
  const sync = (id: string, crm: 'hubspot' | 'salesforce', recordId: string) => crmSynced({ id, data: { lead_id: `lead-${id}`, crm, crm_record_id: recordId, email: EMAIL, phone: PHONE } });

  it('reports a swapped record and a missing one once each, however often delivered; accepts an agreeing one', async () => {
    const swapped = sync('it-y1', 'hubspot', '301');
    const missing = sync('it-y2', 'salesforce', LEAD_GONE);
    for (const e of [swapped, missing, sync('it-y3', 'hubspot', '302'), swapped]) await publish(e);
    await findings.waitFor(2);
    await publish(missing); // a redelivery after the decision
    // All five deliveries handled, and every finding they published arrived.
    await findings.complete(() => handledCount(gateway.stats('crm-checker-syncs')) === 5, () => publisher.published(TOPICS.findings));
    const distinct = new Map(findings.messages.map((m) => [m.attributes.finding_id, m.json() as Record<string, unknown>]));
    expect([...distinct.values()].map((f) => [f.event_id, f.kind, f.action, f.field]).sort()).toEqual([
      ['it-y1', 'crm_mismatch', 'review', 'email_phone_swapped'],
      ['it-y2', 'crm_mismatch', 'review', 'record'],
    ]);
    const published = findings.messages.find((m) => m.attributes.event_id === 'it-y1')!;
    expect(published.json()).toEqual({
      kind: 'crm_mismatch',
      action: 'review',
      event_id: 'it-y1',
      type: 'crm.synced',
      source: '//test/producer',
      field: 'email_phone_swapped',
      expected: { email: 'g***@example.org', phone: '+*********77' },
      actual: { email: '+*********77', phone: 'g***@example.org' },
      reason: "the HubSpot record holds the event's phone as its email and its email as its phone",
    });
    expect(published.attributes).toMatchObject({ kind: 'crm_mismatch', action: 'review', type: 'crm.synced' });
    // The same decision each time: every delivery published the same finding id and bytes.
    expect(new Set(findings.messages.filter((m) => m.attributes.event_id === 'it-y1').map((m) => m.data)).size).toBe(1);
  });

  it('redelivers a CRM that answers 503, then dead-letters it with the reason recorded for triage', async () => {
    const down = sync('it-y4', 'hubspot', '303');
    await publish(down);
    const dead = await until('the dead-lettered copy', async () => deadLetters.messages.find((m) => m.attributes.id === 'it-y4'));
    const record = await until('the failure record', () => failures.get(failureKey('crm-checker-syncs', Buffer.from(dead.data), dead.attributes)));
    expect(record).toMatchObject({ function: NAME, class: 'transient', code: 'HUBSPOT_UNAVAILABLE', message: expect.stringContaining('503') });
    expect(record.attempts).toBeGreaterThanOrEqual(topology.defaults.maxDeliveryAttempts);
    expect(findings.messages.filter((m) => m.attributes.event_id === 'it-y4')).toHaveLength(0);
  });
});
