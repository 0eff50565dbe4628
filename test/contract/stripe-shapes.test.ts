import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { RateLimiter } from '../../shared/adapters/rate-limiter';
import { StripePayments } from '../../shared/adapters/stripe-payments';
import { UpstreamConfigError, UpstreamError } from '../../shared/adapters/upstream-error';
import type { FakeServer } from '../../tools/local/fakes/http';
import { startStripeFake } from '../../tools/local/fakes/stripe';
import { saleRecorded } from '../support/events';

/**
 * The stripe SDK against the local stand-in, which answers as Stripe's published OpenAPI fixtures
 * (stripe/openapi, openapi/fixtures3.json, resources.payment_intent and .charge) do.
 */
const TEST_KEY = 'sk_test_51EventRecoveryLocalKey0000';
const LIVE_KEY = 'sk_live_51EventRecoveryLocalKey0000';

/** The top-level fields of Stripe's PaymentIntent fixture the stand-in carries (the rest are about other products). */
const FIXTURE_PAYMENT_INTENT_FIELDS = [
  'amount', 'amount_capturable', 'amount_details', 'amount_received', 'application', 'application_fee_amount', 'automatic_payment_methods',
  'canceled_at', 'cancellation_reason', 'capture_method', 'client_secret', 'confirmation_method', 'created', 'currency', 'customer',
  'description', 'id', 'last_payment_error', 'latest_charge', 'livemode', 'metadata', 'next_action', 'object', 'on_behalf_of',
  'payment_method', 'payment_method_types', 'processing', 'receipt_email', 'review', 'setup_future_usage', 'shipping',
  'statement_descriptor', 'statement_descriptor_suffix', 'status', 'transfer_data', 'transfer_group',
];

describe('Stripe as its fixtures answer: partial capture, the wrong mode, Stripe-Should-Retry', () => {
  let stripe: FakeServer;
  const clock = { now: () => 1_000_000 };
  const client = (apiKey = TEST_KEY) =>
    new StripePayments({ apiKey, apiBase: stripe.url, timeoutMs: 5000, limiter: new RateLimiter({ name: 'stripe', ratePerSecond: 1000, clock, sleep: async () => undefined }), clock });

  beforeAll(async () => {
    stripe = await startStripeFake({
      paymentIntents: {
        pi_partial: { amount: 10000, currency: 'eur', status: 'succeeded', capture_method: 'manual', amount_received: 7500 },
        pi_full: { amount: 10000, currency: 'eur', status: 'succeeded' },
        pi_disputed: { amount: 10000, currency: 'eur', status: 'succeeded', disputed: true },
        pi_no_retry: { fault: 'rate_limit', shouldRetry: false },
        pi_retry: { fault: 'rate_limit', shouldRetry: true },
      },
    });
  });
  afterAll(() => stripe.close());

  it('answers with the fields of the published PaymentIntent fixture', async () => {
    const res = await fetch(`${stripe.url}/v1/payment_intents/pi_full`, { headers: { authorization: `Bearer ${TEST_KEY}` } });
    const body = (await res.json()) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(expect.arrayContaining(FIXTURE_PAYMENT_INTENT_FIELDS));
    expect(body).toMatchObject({ object: 'payment_intent', livemode: false, amount_received: 10000, amount_capturable: 0, capture_method: 'automatic' });
  });

  it('reads amount_received: a partial manual capture received less than the amount', async () => {
    await expect(client().paymentIntent('pi_partial')).resolves.toEqual({
      kind: 'found',
      payment: { id: 'pi_partial', status: 'succeeded', amount: 10000, currency: 'EUR', amountRefunded: 0, amountReceived: 7500, disputed: false },
    });
  });

  it('reads a lost dispute from the expanded charge (charge.disputed), nothing refunded', async () => {
    const res = await fetch(`${stripe.url}/v1/payment_intents/pi_disputed?expand[]=latest_charge`, { headers: { authorization: `Bearer ${TEST_KEY}` } });
    expect(await res.json()).toMatchObject({ status: 'succeeded', latest_charge: { object: 'charge', disputed: true, refunded: false, amount_refunded: 0 } });
    await expect(client().paymentIntent('pi_disputed')).resolves.toEqual({
      kind: 'found',
      payment: { id: 'pi_disputed', status: 'succeeded', amount: 10000, currency: 'EUR', amountRefunded: 0, amountReceived: 10000, disputed: true },
    });
  });

  it('a key of the other mode is a configuration error, not a payment that does not exist', async () => {
    const err = await client(LIVE_KEY).paymentIntent('pi_full').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UpstreamConfigError);
    expect(err).not.toBeInstanceOf(UpstreamError); // not transient: retrying cannot help
    expect(err).toMatchObject({ code: 'STRIPE_WRONG_MODE', message: expect.stringMatching(/^stripe: STRIPE_API_KEY is a live mode key, but the PaymentIntent pi_full exists in test mode/) });
  });

  it('a PaymentIntent unknown in both modes is still a fact about the sale (404)', async () => {
    await expect(client(LIVE_KEY).paymentIntent('pi_nowhere')).resolves.toMatchObject({ kind: 'not_found' });
  });

  it('a 429 without Retry-After that says Stripe-Should-Retry: false is not retried', async () => {
    await expect(client().paymentIntent('pi_no_retry')).resolves.toMatchObject({ kind: 'rejected', reason: expect.stringMatching(/^Stripe answered 429 and says not to retry/) });
  });

  it('a 429 that says Stripe-Should-Retry: true stays transient', async () => {
    await expect(client().paymentIntent('pi_retry')).rejects.toBeInstanceOf(UpstreamError);
  });
});

describe('replay with a Stripe key of the wrong mode', () => {
  it('stops with one clear line and exit 2', async () => {
    const stripe = await startStripeFake({ paymentIntents: { pi_1: { amount: 3500, currency: 'usd', status: 'succeeded' } } });
    try {
      const dir = mkdtempSync(join(tmpdir(), 'stripe-mode-'));
      const input = join(dir, 'in.ndjson');
      writeFileSync(input, `${JSON.stringify(saleRecorded({ id: 's1', data: { payment_intent_id: 'pi_1' } }))}\n`);
      const cli = resolve(__dirname, '../../dist/cli/event-recovery.js');
      const env = { PATH: process.env.PATH ?? '', STRIPE_API_KEY: LIVE_KEY, STRIPE_API_BASE: stripe.url };
      const r = await new Promise<{ status: number | null; stderr: string }>((done) => {
        // Asynchronously: the stand-in answers from this process.
        const child = spawn(process.execPath, [cli, 'replay', input, '--out', join(dir, 'out'), '--now', '2026-03-01T12:00:00Z', '--quiet'], { env });
        let stderr = '';
        child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
        child.on('close', (status: number | null) => done({ status, stderr }));
      });
      expect(r.stderr).toMatch(/^event-recovery: stripe: STRIPE_API_KEY is a live mode key, but the PaymentIntent pi_1 exists in test mode/);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.status).toBe(2);
    } finally {
      await stripe.close();
    }
  });
});
