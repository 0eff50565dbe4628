import type { PubSub } from '@google-cloud/pubsub';
import type { Firestore } from '@google-cloud/firestore';
import { RatesEnv, ratesFromEnv, StripeEnv, stripeFromEnv, TwilioEnv, twilioFromEnv } from '../../shared/adapters/external';
import { bigtableInstance, ensureTables } from '../../shared/adapters/bigtable';
import { BigtableOutcomeLedger } from '../../shared/adapters/bigtable-ledger';
import { FirestoreOutcomeLedger } from '../../shared/adapters/firestore-ledger';
import type { OutcomeLedger } from '../../shared/ports';
import { ensureTopology } from '../../shared/adapters/pubsub-admin';
import { PushGateway } from '../../tools/local/push-gateway';
import { PubSubPublisher } from '../../shared/adapters/pubsub-publisher';
import { silentLogger } from '../../shared/log';
import { systemClock } from '../../shared/ports';
import { eventAttributes } from '../../shared/publish';
import { topology, TOPICS } from '../../shared/topology';
import { revenueCheckerHandler } from '../../functions/revenue-checker/handler';
import { callDurationCheckerHandler } from '../../functions/call-duration-checker/handler';
import type { FakeServer } from '../../tools/local/fakes/http';
import { startOxrFake } from '../../tools/local/fakes/openexchangerates';
import { startStripeFake } from '../../tools/local/fakes/stripe';
import { startTwilioFake } from '../../tools/local/fakes/twilio';
import { CountingPublisher, emulatorClients, handledCount, Observer, runPrefix, serveFunction } from '../support/harness';
import { callCompleted, cardScanned, saleRecorded } from '../support/events';

const ACCOUNT = `AC${'d'.repeat(32)}`;
const CALL_SID = `CA${'1'.repeat(32)}`;

describe('events-unique → revenue-checker and call-duration-checker → events-corrected and findings, on the emulators', () => {
  const prefix = runPrefix('chk');
  let pubsub: PubSub;
  let firestore: Firestore;
  const closers: Array<() => Promise<void>> = [];
  let fakes: FakeServer[] = [];
  let corrected: Observer;
  let findings: Observer;
  let publisher: CountingPublisher;
  let gateway: PushGateway;

  beforeAll(async () => {
    ({ pubsub, firestore } = emulatorClients());
    const stripe = await startStripeFake({ apiKey: 'sk_test_it', paymentIntents: { pi_failed: { amount: 10000, currency: 'eur', status: 'requires_payment_method' } } });
    const twilio = await startTwilioFake({ accountSid: ACCOUNT, authToken: 'it-token', calls: { [CALL_SID]: { status: 'completed', duration: 61 } } });
    const oxr = await startOxrFake({ appId: 'it-app', days: { '2026-03-01': { EUR: 0.92, JPY: 151.3 } } });
    fakes = [stripe, twilio, oxr];
    const env = {
      STRIPE_API_KEY: 'sk_test_it',
      STRIPE_API_BASE: stripe.url,
      TWILIO_ACCOUNT_SID: ACCOUNT,
      TWILIO_AUTH_TOKEN: 'it-token',
      TWILIO_API_BASE: twilio.url,
      OXR_APP_ID: 'it-app',
      OXR_API_BASE: oxr.url,
    };
    const ctx = { clock: systemClock };
    publisher = new CountingPublisher(new PubSubPublisher(pubsub, prefix));
    // The ledger where a deployment keeps it by default (STATE_STORE=bigtable); crm-checker.test.ts runs the Firestore one.
    const instance = bigtableInstance('event-recovery-test');
    await ensureTables(instance, [{ table: `${prefix}outcomes`, families: ['o'] }]);
    const shell = {
      publisher,
      ledger: new BigtableOutcomeLedger(instance, `${prefix}outcomes`),
      clock: systemClock,
      logger: silentLogger,
      retentionMs: 30 * 86_400_000,
    };
    const revenue = await serveFunction(
      'revenue-checker',
      revenueCheckerHandler({ ...shell, config: { reviewFactor: 3 }, rates: ratesFromEnv(RatesEnv.parse(env), ctx)!, payments: stripeFromEnv(StripeEnv.parse(env), ctx)! }) as never,
    );
    const calls = await serveFunction('call-duration-checker', callDurationCheckerHandler({ ...shell, calls: twilioFromEnv(TwilioEnv.parse(env), ctx)! }) as never);
    closers.push(revenue.close, calls.close);
    const urls: Record<string, string> = { 'revenue-checker': revenue.url, 'call-duration-checker': calls.url };
    const subscriptions = await ensureTopology(pubsub, topology, {
      prefix,
      only: (s) => s.function === 'revenue-checker' || s.function === 'call-duration-checker',
    });
    gateway = await PushGateway.start({ pubsub, prefix, subscriptions, endpoint: (fn) => urls[fn] });
    closers.unshift(() => gateway.close());
    corrected = await Observer.on(pubsub, prefix + TOPICS.corrected, `${prefix}obs-corrected`);
    findings = await Observer.on(pubsub, prefix + TOPICS.findings, `${prefix}obs-findings`);
  });

  afterAll(async () => {
    await Promise.all([corrected, findings].map((o) => o?.close()));
    for (const close of closers) await close();
    await Promise.all(fakes.map((f) => f.close()));
    await pubsub.close();
    await firestore.terminate();
  });

  const publish = (event: { id: string; type: string; source: string }) =>
    pubsub.topic(prefix + TOPICS.unique).publishMessage({ json: event, attributes: eventAttributes(event) });

  it('corrects and reports, once, however often an event is delivered', async () => {
    const wrongTotal = saleRecorded({
      id: 'it-s1',
      data: { order_id: 'o1', line_items: [{ sku: 'a', unit_amount: 5000, quantity: 2 }], amount: 9000, currency: 'EUR', amount_usd: 9000 },
    });
    const failedPayment = saleRecorded({
      id: 'it-s2',
      data: { order_id: 'o2', payment_intent_id: 'pi_failed', line_items: [{ sku: 'a', unit_amount: 10000, quantity: 1 }], amount: 10000, currency: 'EUR', amount_usd: 10870 },
    });
    const yenAsCents = saleRecorded({
      id: 'it-s3',
      data: { order_id: 'o3', line_items: [{ sku: 'a', unit_amount: 15130, quantity: 1 }], amount: 15130, currency: 'JPY', amount_usd: 100 },
    });
    const wrongDuration = callCompleted({ id: 'it-c1', data: { call_sid: CALL_SID, duration_seconds: 45 } });
    for (const e of [wrongTotal, failedPayment, yenAsCents, wrongDuration, cardScanned({ id: 'it-card' })]) await publish(e);
    await corrected.waitFor(2);
    await findings.waitFor(5);
    // A redelivery of a decided event, and two deliveries of a new one at once.
    const raced = saleRecorded({ id: 'it-s4', data: { order_id: 'o4', amount: 3400, amount_usd: 3400 } });
    await Promise.all([publish(wrongTotal), publish(raced), publish(raced)]);
    await corrected.waitFor(3);
    // All eight messages handled on both subscriptions (pushed, or filtered out by the gateway as
    // GCP does), and everything the checkers published arrived.
    const handled = () => handledCount(gateway.stats('revenue-checker-sales')) === 8 && handledCount(gateway.stats('call-duration-checker-calls')) === 8;
    await corrected.complete(handled, () => publisher.published(TOPICS.corrected));
    await findings.complete(handled, () => publisher.published(TOPICS.findings));

    const byOriginal = new Map<string, Set<string>>();
    for (const m of corrected.messages) {
      const c = m.json() as { id: string; correctionof: string };
      expect(m.attributes).toMatchObject({ id: c.id, correctionof: c.correctionof });
      byOriginal.set(c.correctionof, new Set([...(byOriginal.get(c.correctionof) ?? []), m.data]));
    }
    // one correction per corrected event: the same bytes however many deliveries published it
    expect([...byOriginal.keys()].sort()).toEqual(['it-c1', 'it-s1', 'it-s4']);
    expect([...byOriginal.values()].map((s) => s.size)).toEqual([1, 1, 1]);
    const correctionOf = (id: string) => JSON.parse([...byOriginal.get(id)!][0]!) as { data: Record<string, unknown> };
    expect(correctionOf('it-s1').data).toMatchObject({ amount: 10000, amount_usd: 10870, fx_rate: 0.92 });
    expect(correctionOf('it-s4').data).toMatchObject({ amount: 3500, amount_usd: 3500 });
    expect(correctionOf('it-c1').data).toMatchObject({ duration_seconds: 61 });

    const distinct = new Map(findings.messages.map((m) => [m.attributes.finding_id, m.json() as Record<string, unknown>]));
    expect([...distinct.values()].map((f) => [f.event_id, f.kind, f.action, f.field]).sort()).toEqual(
      [
        ['it-s1', 'amount_mismatch', 'corrected', 'amount'],
        ['it-s1', 'fx_mismatch', 'corrected', 'amount_usd'],
        ['it-s2', 'payment_mismatch', 'review', 'status'],
        ['it-s3', 'fx_mismatch', 'review', 'amount_usd'],
        ['it-c1', 'call_duration_mismatch', 'corrected', 'duration_seconds'],
        ['it-s4', 'amount_mismatch', 'corrected', 'amount'],
      ].sort(),
    );
    // the redelivered it-s1 added nothing
    expect(findings.messages.filter((m) => m.attributes.event_id === 'it-s1')).toHaveLength(2);
  });

  /** The ledger's two stores (STATE_STORE firestore or bigtable), on their emulators. */
  const ledgers: Array<[string, () => Promise<OutcomeLedger>]> = [
    ['Firestore', async () => new FirestoreOutcomeLedger(firestore, `${prefix}race`)],
    [
      'Bigtable',
      async () => {
        const instance = bigtableInstance('event-recovery-test');
        await ensureTables(instance, [{ table: `${prefix}race`, families: ['o'] }]);
        return new BigtableOutcomeLedger(instance, `${prefix}race`);
      },
    ],
  ];

  it.each(ledgers)('keeps exactly one decision per (rule, event) in %s, however many deliveries decide at once', async (_store, make) => {
    const ledger = await make();
    const outcomes = Array.from({ length: 8 }, (_, i) => ({
      outcome: { findings: [{ kind: 'fx_mismatch' as const, action: 'review' as const, event_id: 'e-race', field: 'amount_usd', actual: i, reason: `decision ${i}` }] },
      published: false,
    }));
    const standing = await Promise.all(outcomes.map((o) => ledger.record('revenue-checker', 'e-race', o, Date.now() + 60_000)));
    expect(new Set(standing.map((e) => JSON.stringify(e))).size).toBe(1);
    expect(await ledger.get('revenue-checker', 'e-race')).toEqual(standing[0]);
    await ledger.markPublished('revenue-checker', 'e-race');
    expect(await ledger.get('revenue-checker', 'e-race')).toEqual({ ...standing[0], published: true });
    // Recorded again after the publish: the decision and its mark stand.
    expect(await ledger.record('revenue-checker', 'e-race', outcomes[7]!, Date.now() + 60_000)).toEqual({ ...standing[0], published: true });
    expect(await ledger.get('call-duration-checker', 'e-race')).toBeUndefined();
  });
});
