import { checkerStages } from '../../cli/replay/checker-stages';
import type { RatesFile } from '../../shared/rates/file';
import type { FakeServer } from '../../tools/local/fakes/http';
import { startStripeFake } from '../../tools/local/fakes/stripe';
import { startTwilioFake } from '../../tools/local/fakes/twilio';
import { callCompleted, ndjson, saleRecorded } from '../support/events';
import { REPLAY_NOW, replayText } from '../support/replay';

const rates: RatesFile = { base: 'USD', days: { '2026-03-01': { EUR: 0.92, JPY: 151.3, KWD: 0.307 } } };
const one = (unit: number) => [{ sku: 'sku-a', unit_amount: unit, quantity: 1 }];
const sale = (id: string, currency: string, unit: number, amount: number, amountUsd: number, extra: Record<string, unknown> = {}) =>
  saleRecorded({ id, data: { order_id: `o-${id}`, line_items: one(unit), amount, currency, amount_usd: amountUsd, ...extra } });
const sid = (n: number) => `CA${String(n).padStart(32, '0')}`;
const about = (id: string, type = 'sale.recorded') => ({ event_id: id, type, source: '//test/producer' });

/** Faults of each kind the revenue and call rules know, and clean events between them. */
const stream = ndjson(
  saleRecorded({ id: 's1', data: { order_id: 'o-s1' } }), // 1: USD 3500, clean
  saleRecorded({ id: 's2', data: { order_id: 'o-s2', amount: 3400, amount_usd: 3400 } }), // 2: wrong total
  sale('s3', 'EUR', 10000, 10000, 10000), // 3: unconverted
  sale('s4', 'EUR', 10000, 10000, 9200), // 4: converted with the inverted rate
  sale('s5', 'JPY', 15130, 15130, 100), // 5: yen taken for cents: 100× off, held for review
  { ...sale('s6', 'EUR', 10000, 10000, 10870), time: '2026-02-15T10:00:00Z' }, // 6: no rate for the day
  sale('s7', 'KWD', 30700, 30700, 10000), // 7: clean, exponent 3
  sale('s3', 'EUR', 10000, 10000, 10000), // 8: replayed again: a duplicate, never a second correction
  callCompleted({ id: 'c1', data: { call_sid: sid(1), duration_seconds: 0 } }), // 9: a completed call of 0 s
  callCompleted({ id: 'c2', data: { call_sid: sid(2), duration_seconds: 42 } }), // 10: clean
);

describe('event-recovery replay: incorrect events', () => {
  it('corrects and holds for review to the cent, with --rates', async () => {
    const { findings, events, summary } = await replayText(stream, { rates });
    expect(findings).toEqual([
      { kind: 'amount_mismatch', action: 'corrected', ...about('s2'), field: 'amount', expected: 3500, actual: 3400, line: 2 },
      { kind: 'fx_mismatch', action: 'corrected', ...about('s3'), field: 'amount_usd', expected: 10870, actual: 10000, line: 3 },
      { kind: 'fx_mismatch', action: 'corrected', ...about('s4'), field: 'amount_usd', expected: 10870, actual: 9200, line: 4 },
      {
        kind: 'fx_mismatch',
        action: 'review',
        ...about('s5'),
        field: 'amount_usd',
        expected: 10000,
        actual: 100,
        reason: 'correction held for review: the correction would move amount_usd from 100 to 10000 US cents, beyond the review factor 3',
        line: 5,
      },
      { kind: 'fx_mismatch', action: 'review', ...about('s6'), field: 'amount_usd', actual: 10870, reason: 'no exchange rate for EUR on 2026-02-15', line: 6 },
      { kind: 'duplicate', action: 'dropped', ...about('s3'), duplicate_of: 's3', basis: 'id', line: 8 },
      {
        kind: 'call_duration_mismatch',
        action: 'review',
        ...about('c1', 'call.completed'),
        field: 'duration_seconds',
        actual: 0,
        reason: 'a completed call of 0 s (not checked with Twilio)',
        line: 9,
      },
    ]);
    // accepted events, then one correction each for s2, s3, s4
    expect(events.map((e) => [e.id, e.correctionof ?? null])).toEqual([
      ['s1', null],
      ['s2', null],
      ['s3', null],
      ['s4', null],
      ['s5', null],
      ['s6', null],
      ['s7', null],
      ['c1', null],
      ['c2', null],
      [expect.stringMatching(/^corr-/), 's2'],
      [expect.stringMatching(/^corr-/), 's3'],
      [expect.stringMatching(/^corr-/), 's4'],
    ]);
    expect(events.slice(9).map((e) => e.data)).toEqual([
      expect.objectContaining({ amount: 3500, amount_usd: 3500 }),
      expect.objectContaining({ amount: 10000, amount_usd: 10870, fx_rate: 0.92 }),
      expect.objectContaining({ amount: 10000, amount_usd: 10870, fx_rate: 0.92 }),
    ]);
    expect(summary).toMatchObject({
      corrections: 3,
      review: 3,
      // recorded: 3500 + 3400 + 10000 + 9200 + 100 + 10870 + 10000
      // corrected: + (3500 - 3400) + (10870 - 10000) + (10870 - 9200); s5 and s6 keep their recorded value
      revenue_usd_cents: { recorded: 47070, corrected: 49710 },
      checks: expect.objectContaining({ fx: 'on (--rates)', stripe: 'skipped: no credentials (STRIPE_API_KEY)', twilio: 'skipped: no credentials (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)' }),
    });
  });

  it('without --rates skips every FX check, USD included, and says so', async () => {
    const { findings, summary } = await replayText(
      ndjson(
        saleRecorded({ id: 's2', data: { amount: 3400, amount_usd: 3400 } }),
        saleRecorded({ id: 's9', data: { order_id: 'o9', amount_usd: 9999 } }), // a USD conversion fault: not checked
        sale('s3', 'EUR', 10000, 10000, 10000),
        sale('s8', 'EUR', 10000, 9000, 9783), // wrong total: cannot be recomputed without a rate
      ),
    );
    expect(findings.map((f) => [f.event_id, f.kind, f.action, f.reason ?? null])).toEqual([
      ['s2', 'amount_mismatch', 'corrected', null],
      ['s8', 'amount_mismatch', 'review', 'correction held for review: amount_usd cannot be recomputed: no exchange rates (replay without --rates)'],
    ]);
    expect(summary).toMatchObject({
      corrections: 1,
      review: 1,
      revenue_usd_cents: { recorded: 3400 + 9999 + 10000 + 9783, corrected: 3500 + 9999 + 10000 + 9783 },
      checks: expect.objectContaining({ fx: 'skipped: no --rates' }),
    });
  });

  it('takes the review factor from the options', async () => {
    const { findings, summary } = await replayText(ndjson(sale('s5', 'JPY', 15130, 15130, 100)), { rates, reviewFactor: 101 });
    expect(findings).toEqual([expect.objectContaining({ kind: 'fx_mismatch', action: 'corrected' })]);
    expect(summary).toMatchObject({ corrections: 1, review: 0, revenue_usd_cents: { recorded: 100, corrected: 10000 } });
  });

  it('is deterministic: the same corrections, byte for byte, every run', async () => {
    const a = await replayText(stream, { rates });
    const b = await replayText(stream, { rates });
    expect(b.events).toEqual(a.events);
    expect(b.findings).toEqual(a.findings);
  });
});

describe('event-recovery replay with Stripe and Twilio credentials', () => {
  let stripe: FakeServer;
  let twilio: FakeServer;
  const account = `AC${'c'.repeat(32)}`;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    stripe = await startStripeFake({
      apiKey: 'sk_test_replay',
      paymentIntents: {
        pi_ok: { amount: 3500, currency: 'usd', status: 'succeeded' },
        pi_failed: { amount: 3500, currency: 'usd', status: 'requires_payment_method' },
        pi_busy: [{ fault: 'rate_limit', retryAfterSeconds: 2 }, { fault: 'server_error' }, { amount: 3500, currency: 'usd', status: 'succeeded', amount_refunded: 3500 }],
      },
    });
    twilio = await startTwilioFake({
      accountSid: account,
      authToken: 'replay-token',
      calls: { [sid(1)]: { status: 'completed', duration: 61 }, [sid(2)]: { status: 'completed', duration: 42 } },
    });
    env = {
      STRIPE_API_KEY: 'sk_test_replay',
      STRIPE_API_BASE: stripe.url,
      TWILIO_ACCOUNT_SID: account,
      TWILIO_AUTH_TOKEN: 'replay-token',
      TWILIO_API_BASE: twilio.url,
      STRIPE_BURST: '100',
      TWILIO_BURST: '100',
    };
  });
  afterAll(async () => {
    await stripe.close();
    await twilio.close();
  });

  const input = ndjson(
    saleRecorded({ id: 's1', data: { payment_intent_id: 'pi_ok' } }),
    saleRecorded({ id: 's2', data: { order_id: 'o2', payment_intent_id: 'pi_failed', amount: 3400, amount_usd: 3400 } }),
    saleRecorded({ id: 's3', data: { order_id: 'o3', payment_intent_id: 'pi_busy' } }),
    callCompleted({ id: 'c1', data: { call_sid: sid(1), duration_seconds: 0 } }),
    callCompleted({ id: 'c2', data: { call_sid: sid(2), duration_seconds: 42 } }),
    callCompleted({ id: 'c9', data: { call_sid: sid(9), duration_seconds: 42 } }),
  );

  it('checks payments and calls with the real SDKs, retrying transient faults as Retry-After asks', async () => {
    // A virtual clock that a sleep moves on: the waits are exact and take no time.
    let now = REPLAY_NOW;
    const sleeps: number[] = [];
    const sleep = async (ms: number) => {
      sleeps.push(ms);
      now += ms;
    };
    const stages = checkerStages({ now: REPLAY_NOW, env }, { attempts: 5, baseDelayMs: 100, maxDelayMs: 30_000, sleep }, { now: () => now });
    const { findings, events, summary } = await replayText(input, { env, stages });
    expect(findings).toEqual([
      // s2: the wrong total would be corrected, but the payment needs a person first
      { kind: 'amount_mismatch', action: 'review', ...about('s2'), field: 'amount', expected: 3500, actual: 3400, reason: 'correction held for review: Stripe reports PaymentIntent pi_failed as requires_payment_method', line: 2 },
      { kind: 'payment_mismatch', action: 'review', ...about('s2'), field: 'status', expected: 'succeeded', actual: 'requires_payment_method', reason: 'Stripe reports PaymentIntent pi_failed as requires_payment_method', line: 2 },
      { kind: 'payment_mismatch', action: 'review', ...about('s3'), field: 'amount_refunded', expected: 0, actual: 3500, reason: 'Stripe reports 3500 of 3500 USD minor units of pi_busy refunded', line: 3 },
      { kind: 'call_duration_mismatch', action: 'corrected', ...about('c1', 'call.completed'), field: 'duration_seconds', expected: 61, actual: 0, line: 4 },
      { kind: 'call_duration_mismatch', action: 'review', ...about('c9', 'call.completed'), field: 'duration_seconds', actual: 42, reason: expect.stringMatching(/^Twilio: The requested resource .* was not found$/), line: 6 },
    ]);
    expect(sleeps).toEqual([2000, 200]); // Retry-After: 2 (the limiter), then backoff after the 500
    expect(events.filter((e) => e.correctionof)).toEqual([expect.objectContaining({ correctionof: 'c1', data: expect.objectContaining({ duration_seconds: 61 }) })]);
    expect(summary).toMatchObject({ corrections: 1, review: 4, revenue_usd_cents: { recorded: 3500 + 3400 + 3500, corrected: 3500 + 3400 + 3500 }, checks: expect.objectContaining({ stripe: 'on', twilio: 'on' }) });
  });

  it('configures the clients from the environment', async () => {
    const { summary } = await replayText(ndjson(saleRecorded({ id: 's1', data: { payment_intent_id: 'pi_ok' } })), { env });
    expect(summary).toMatchObject({ corrections: 0, review: 0, checks: expect.objectContaining({ stripe: 'on', twilio: 'on' }) });
    expect(stripe.requests.at(-1)).toMatchObject({ path: '/v1/payment_intents/pi_ok', authorized: true });
  });
});
