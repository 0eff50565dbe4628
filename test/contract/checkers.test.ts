import { MemoryPublisher } from '../../shared/adapters/memory-publisher';
import { MemoryOutcomeLedger } from '../../shared/adapters/memory-ledger';
import { RatesEnv, ratesFromEnv, StripeEnv, stripeFromEnv, TwilioEnv, twilioFromEnv } from '../../shared/adapters/external';
import { silentLogger } from '../../shared/log';
import type { OutboundMessage, Publisher } from '../../shared/ports';
import { pushBody } from '../../shared/pubsub/push';
import { eventAttributes } from '../../shared/publish';
import { TOPICS } from '../../shared/topology';
import { revenueCheckerHandler } from '../../functions/revenue-checker/handler';
import { callDurationCheckerHandler } from '../../functions/call-duration-checker/handler';
import type { FakeServer } from '../../tools/local/fakes/http';
import { startOxrFake } from '../../tools/local/fakes/openexchangerates';
import { startStripeFake } from '../../tools/local/fakes/stripe';
import { startTwilioFake } from '../../tools/local/fakes/twilio';
import { serveFunction } from '../support/harness';
import { callCompleted, cardScanned, saleRecorded } from '../support/events';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const TOPIC_PATH = '/projects/demo/topics/events-unique';
const ACCOUNT = `AC${'b'.repeat(32)}`;
const sid = (n: number) => `CA${String(n).padStart(32, '0')}`;

let messageSeq = 0;
async function push(url: string, event: { id: string; type: string; source: string }, attributes = eventAttributes(event)): Promise<number> {
  const body = pushBody(JSON.stringify(event), attributes, `m-${++messageSeq}`);
  const res = await fetch(`${url}${TOPIC_PATH}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return res.status;
}

/** A publisher that fails the first `failures` publishes: a crash after the decision was recorded. */
class FlakyPublisher implements Publisher {
  failures = 0;
  constructor(readonly inner: MemoryPublisher) {}
  publish(topic: string, message: OutboundMessage): Promise<string> {
    if (this.failures > 0) {
      this.failures--;
      return Promise.reject(new Error('publish failed'));
    }
    return this.inner.publish(topic, message);
  }
}

const eur = (id: string, data: Record<string, unknown>) =>
  saleRecorded({ id, data: { order_id: `o-${id}`, line_items: [{ sku: 'a', unit_amount: 5000, quantity: 2 }], amount: 10000, currency: 'EUR', amount_usd: 10870, ...data } });

describe('revenue-checker over HTTP with the raw Pub/Sub push body', () => {
  const messages = new MemoryPublisher();
  const publisher = new FlakyPublisher(messages);
  const ledger = new MemoryOutcomeLedger();
  const waits: number[] = [];
  let now = NOW;
  let stripe: FakeServer;
  let oxr: FakeServer;
  let server: { url: string; close: () => Promise<void> };

  beforeAll(async () => {
    stripe = await startStripeFake({
      apiKey: 'sk_test_contract',
      paymentIntents: {
        pi_ok: { amount: 10000, currency: 'eur', status: 'succeeded' },
        pi_failed: { amount: 10000, currency: 'eur', status: 'requires_payment_method' },
        pi_busy: [{ fault: 'rate_limit', retryAfterSeconds: 1 }, { amount: 10000, currency: 'eur', status: 'succeeded' }],
        // Stripe's own units (https://docs.stripe.com/currencies): 5,000 kr is 500000 (hundredths), 45,000 Ar is 45000 (zero-decimal).
        pi_isk: { amount: 500000, currency: 'isk', status: 'succeeded' },
        pi_mga: { amount: 45000, currency: 'mga', status: 'succeeded' },
        pi_disputed: { amount: 10000, currency: 'eur', status: 'succeeded', disputed: true },
        ...Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`pi_burst${i}`, { amount: 10000, currency: 'eur', status: 'succeeded' }])),
      },
    });
    oxr = await startOxrFake({ appId: 'oxr-contract', days: { '2026-03-01': { EUR: 0.92, ISK: 138.5, MGA: 4500 } } });
    const env = { STRIPE_API_KEY: 'sk_test_contract', STRIPE_API_BASE: stripe.url, STRIPE_MAX_RPS: '10', OXR_APP_ID: 'oxr-contract', OXR_API_BASE: oxr.url };
    // A clock that moves only between tests and a recording sleep: the limiter's schedule is
    // exact and nothing waits.
    const ctx = { clock: { now: () => now }, sleep: async (ms: number) => void waits.push(ms) };
    const handler = revenueCheckerHandler({
      publisher,
      ledger,
      clock: { now: () => NOW },
      logger: silentLogger,
      retentionMs: 30 * 86_400_000,
      config: { reviewFactor: 3 },
      rates: ratesFromEnv(RatesEnv.parse(env), ctx)!,
      payments: stripeFromEnv(StripeEnv.parse(env), ctx)!,
    });
    server = await serveFunction('revenue-checker', handler as never);
  });
  afterAll(async () => {
    await server.close();
    await stripe.close();
    await oxr.close();
  });
  beforeEach(() => {
    messages.messages.splice(0);
    waits.splice(0);
    now += 3_600_000; // the limiter is idle again
  });

  it('publishes one correction carrying every fix, with its findings, and acks', async () => {
    const sale = eur('s-total', { amount: 9000, amount_usd: 9000 }); // wrong total, unconverted
    expect(await push(server.url, sale)).toBe(204);
    const [correction] = messages.json(TOPICS.corrected) as Array<Record<string, unknown>>;
    expect(correction).toMatchObject({ type: 'sale.recorded', correctionof: 's-total', data: { amount: 10000, amount_usd: 10870, fx_rate: 0.92 } });
    expect(messages.messages.find((m) => m.topic === TOPICS.corrected)?.attributes).toEqual({
      type: 'sale.recorded',
      source: '//event-recovery/revenue-checker',
      id: correction!.id,
      correctionof: 's-total',
    });
    expect(messages.json(TOPICS.findings)).toEqual([
      { kind: 'amount_mismatch', action: 'corrected', event_id: 's-total', type: 'sale.recorded', source: '//test/producer', field: 'amount', expected: 10000, actual: 9000 },
      { kind: 'fx_mismatch', action: 'corrected', event_id: 's-total', type: 'sale.recorded', source: '//test/producer', field: 'amount_usd', expected: 9783, actual: 9000 },
    ]);
    expect(messages.messages.filter((m) => m.topic === TOPICS.findings).map((m) => m.attributes?.kind)).toEqual(['amount_mismatch', 'fx_mismatch']);
  });

  it('a redelivery publishes nothing new', async () => {
    const sale = eur('s-redelivered', { amount_usd: 10000 });
    expect(await push(server.url, sale)).toBe(204);
    expect(messages.messages).toHaveLength(2);
    expect(await push(server.url, sale)).toBe(204);
    expect(messages.messages).toHaveLength(2);
  });

  it('after a crash between the decision and its messages, the redelivery publishes the same decision with the same ids', async () => {
    const sale = eur('s-crash', { amount_usd: 10000 });
    publisher.failures = 1;
    expect(await push(server.url, sale)).toBe(500);
    const first = messages.messages.map((m) => ({ topic: m.topic, data: m.data.toString(), attributes: m.attributes }));
    // The correction failed to publish; its finding got out before the crash answered 500.
    expect(first.map((m) => m.topic)).toEqual([TOPICS.findings]);
    messages.messages.splice(0);
    expect(await push(server.url, sale)).toBe(204);
    const second = messages.messages.map((m) => ({ topic: m.topic, data: m.data.toString(), attributes: m.attributes }));
    expect(second).toHaveLength(2);
    for (const m of first) expect(second).toContainEqual(m); // what got out the first time is repeated, byte for byte
  });

  it('reports a payment Stripe says failed for review and corrects nothing', async () => {
    expect(await push(server.url, eur('s-failed', { payment_intent_id: 'pi_failed' }))).toBe(204);
    expect(messages.json(TOPICS.corrected)).toEqual([]);
    expect(messages.json(TOPICS.findings)).toEqual([
      expect.objectContaining({ kind: 'payment_mismatch', action: 'review', event_id: 's-failed', field: 'status', expected: 'succeeded', actual: 'requires_payment_method' }),
    ]);
  });

  it.each([
    // ISO 4217: ISK has no minor unit, MGA two; Stripe counts ISK in hundredths, MGA in whole ariary.
    ['ISK', 'pi_isk', 5000, 3610],
    ['MGA', 'pi_mga', 4_500_000, 1000],
  ])('accepts a correct %s sale that Stripe counts in its own unit', async (currency, pi, amount, usd) => {
    const sale = saleRecorded({ id: `s-${pi}`, data: { order_id: `o-${pi}`, line_items: [{ sku: 'a', unit_amount: amount, quantity: 1 }], amount, currency, amount_usd: usd, payment_intent_id: pi } });
    expect(await push(server.url, sale)).toBe(204);
    expect(messages.json(TOPICS.findings)).toEqual([]);
    expect(messages.json(TOPICS.corrected)).toEqual([]);
  });

  it('reports a succeeded payment whose charge is disputed for review', async () => {
    expect(await push(server.url, eur('s-disputed', { payment_intent_id: 'pi_disputed' }))).toBe(204);
    expect(messages.json(TOPICS.corrected)).toEqual([]);
    expect(messages.json(TOPICS.findings)).toEqual([
      {
        kind: 'payment_mismatch',
        action: 'review',
        event_id: 's-disputed',
        type: 'sale.recorded',
        source: '//test/producer',
        field: 'dispute',
        expected: false,
        actual: true,
        reason: 'Stripe reports the charge of PaymentIntent pi_disputed disputed: the payment may be taken back',
      },
    ]);
  });

  it('answers 500 on a Stripe 429 (Pub/Sub redelivers), decides nothing, and goes through on the redelivery', async () => {
    const sale = eur('s-busy', { payment_intent_id: 'pi_busy', amount_usd: 10000 });
    expect(await push(server.url, sale)).toBe(500);
    expect(messages.messages).toHaveLength(0);
    expect(await ledger.get('revenue-checker', 's-busy')).toBeUndefined();
    expect(await push(server.url, sale)).toBe(204);
    expect(waits).toEqual([1000]); // the redelivery waited for Retry-After
    expect(messages.json(TOPICS.findings)).toEqual([expect.objectContaining({ kind: 'fx_mismatch', action: 'corrected' })]);
  });

  it('reports a day without a rate for review', async () => {
    const sale = { ...eur('s-feb20', {}), time: '2026-02-20T10:00:00Z' };
    expect(await push(server.url, sale)).toBe(204);
    expect(messages.json(TOPICS.findings)).toEqual([
      { kind: 'fx_mismatch', action: 'review', event_id: 's-feb20', type: 'sale.recorded', source: '//test/producer', field: 'amount_usd', actual: 10870, reason: 'no exchange rate for EUR on 2026-02-20: OpenExchangeRates has no rates for the day' },
    ]);
  });

  it('keeps a burst of sales within the configured request rate to Stripe', async () => {
    const statuses = await Promise.all(Array.from({ length: 10 }, (_, i) => push(server.url, eur(`s-burst${i}`, { payment_intent_id: `pi_burst${i}` }))));
    expect(statuses).toEqual(Array(10).fill(204));
    // 10 requests/s, burst 1: the first goes at once, each next one 100 ms after the one before.
    expect([...waits].sort((a, b) => a - b)).toEqual([100, 200, 300, 400, 500, 600, 700, 800, 900]);
  });

  it('acks event types it does not own, even without a filter', async () => {
    expect(await push(server.url, cardScanned({ id: 'c-1' }))).toBe(204);
    expect(await push(server.url, callCompleted({ id: 'call-x' }), {})).toBe(204); // no type attribute: read, then ignored
    expect(messages.messages).toHaveLength(0);
  });

  it('reports an unparseable sale.recorded message as invalid', async () => {
    const broken = { ...saleRecorded({ id: 's-broken' }), data: { order_id: 'o' } };
    expect(await push(server.url, broken)).toBe(204);
    expect(messages.json(TOPICS.findings)).toEqual([expect.objectContaining({ kind: 'invalid', action: 'dropped', type: 'sale.recorded' })]);
  });
});

describe('call-duration-checker over HTTP with the raw Pub/Sub push body', () => {
  const messages = new MemoryPublisher();
  let twilio: FakeServer;
  let server: { url: string; close: () => Promise<void> };

  beforeAll(async () => {
    twilio = await startTwilioFake({
      accountSid: ACCOUNT,
      authToken: 'contract-token',
      calls: {
        [sid(1)]: { status: 'completed', duration: 57 },
        [sid(2)]: { status: 'completed', duration: 42 },
        [sid(3)]: [{ status: 'in-progress', duration: null }, { status: 'completed', duration: 42 }],
      },
    });
    const env = { TWILIO_ACCOUNT_SID: ACCOUNT, TWILIO_AUTH_TOKEN: 'contract-token', TWILIO_API_BASE: twilio.url };
    const handler = callDurationCheckerHandler({
      publisher: messages,
      ledger: new MemoryOutcomeLedger(),
      clock: { now: () => NOW },
      logger: silentLogger,
      retentionMs: 30 * 86_400_000,
      calls: twilioFromEnv(TwilioEnv.parse(env), { clock: { now: () => NOW }, sleep: async () => undefined })!,
    });
    server = await serveFunction('call-duration-checker', handler as never);
  });
  afterAll(async () => {
    await server.close();
    await twilio.close();
  });
  beforeEach(() => messages.messages.splice(0));

  it('corrects a wrong duration to Twilio\'s', async () => {
    expect(await push(server.url, callCompleted({ id: 'call-1', data: { call_sid: sid(1), duration_seconds: 42 } }))).toBe(204);
    expect(messages.json(TOPICS.corrected)).toEqual([expect.objectContaining({ correctionof: 'call-1', data: expect.objectContaining({ duration_seconds: 57 }) })]);
    expect(messages.json(TOPICS.findings)).toEqual([
      { kind: 'call_duration_mismatch', action: 'corrected', event_id: 'call-1', type: 'call.completed', source: '//test/producer', field: 'duration_seconds', expected: 57, actual: 42 },
    ]);
  });

  it('accepts a matching duration', async () => {
    expect(await push(server.url, callCompleted({ id: 'call-2', data: { call_sid: sid(2), duration_seconds: 42 } }))).toBe(204);
    expect(messages.messages).toHaveLength(0);
  });

  it('reports a call Twilio does not know for review', async () => {
    expect(await push(server.url, callCompleted({ id: 'call-9', data: { call_sid: sid(9) } }))).toBe(204);
    expect(messages.json(TOPICS.findings)).toEqual([expect.objectContaining({ kind: 'call_duration_mismatch', action: 'review', reason: expect.stringMatching(/was not found$/) })]);
  });

  it('answers 500 while Twilio has not ended the call, and decides on the redelivery', async () => {
    const call = callCompleted({ id: 'call-3', data: { call_sid: sid(3), duration_seconds: 42 } });
    expect(await push(server.url, call)).toBe(500);
    expect(await push(server.url, call)).toBe(204);
    expect(messages.messages).toHaveLength(0);
  });

  it('acks sales', async () => {
    expect(await push(server.url, saleRecorded({ id: 's-1' }))).toBe(204);
    expect(messages.messages).toHaveLength(0);
  });
});
