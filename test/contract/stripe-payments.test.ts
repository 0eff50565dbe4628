import { RateLimiter } from '../../shared/adapters/rate-limiter';
import { StripePayments } from '../../shared/adapters/stripe-payments';
import { UpstreamError } from '../../shared/adapters/upstream-error';
import type { FakeServer } from '../../tools/local/fakes/http';
import { startStripeFake, type StripeFixtures } from '../../tools/local/fakes/stripe';

const KEY = 'sk_test_51EventRecoveryLocalKey0000';
const fixtures: StripeFixtures = {
  apiKey: KEY,
  paymentIntents: {
    pi_paid: { amount: 10000, currency: 'eur', status: 'succeeded' },
    pi_refunded: { amount: 10000, currency: 'eur', status: 'succeeded', amount_refunded: 2500 },
    pi_failed: { amount: 4200, currency: 'usd', status: 'requires_payment_method' },
    pi_busy: [{ fault: 'rate_limit', retryAfterSeconds: 7 }, { amount: 100, currency: 'usd', status: 'succeeded' }],
    pi_broken: { fault: 'server_error', status: 503 },
    pi_hung: { fault: 'hang' },
  },
};

describe('StripePayments: the real stripe SDK against a local stand-in', () => {
  let stripe: FakeServer;
  let now = 1_000_000;
  const sleeps: number[] = [];
  const clock = { now: () => now };
  const limiter = () => new RateLimiter({ name: 'stripe', ratePerSecond: 1000, clock, sleep: async (ms) => void sleeps.push(ms) });
  const client = (over: Partial<{ apiKey: string; timeoutMs: number; limiter: RateLimiter }> = {}) =>
    new StripePayments({ apiKey: KEY, apiBase: stripe.url, timeoutMs: 5000, limiter: limiter(), clock, ...over });

  beforeAll(async () => {
    stripe = await startStripeFake(fixtures);
  });
  afterAll(() => stripe.close());
  beforeEach(() => {
    stripe.requests.splice(0);
    sleeps.splice(0);
    now += 60_000;
  });

  it('reads a PaymentIntent with its latest charge expanded; currency upper case', async () => {
    await expect(client().paymentIntent('pi_paid')).resolves.toEqual({
      kind: 'found',
      payment: { id: 'pi_paid', status: 'succeeded', amount: 10000, currency: 'EUR', amountRefunded: 0, amountReceived: 10000, disputed: false },
    });
    expect(stripe.requests).toEqual([
      expect.objectContaining({ method: 'GET', path: '/v1/payment_intents/pi_paid', query: { 'expand[0]': 'latest_charge' }, authorized: true }),
    ]);
  });

  it('reports the refunded amount of the latest charge', async () => {
    await expect(client().paymentIntent('pi_refunded')).resolves.toMatchObject({ kind: 'found', payment: { amountRefunded: 2500 } });
  });

  it('reads a PaymentIntent that never got a charge', async () => {
    await expect(client().paymentIntent('pi_failed')).resolves.toEqual({
      kind: 'found',
      payment: { id: 'pi_failed', status: 'requires_payment_method', amount: 4200, currency: 'USD', amountRefunded: 0, amountReceived: 0, disputed: false },
    });
  });

  it('answers a 404 (resource_missing) as a fact: Stripe does not know the PaymentIntent', async () => {
    await expect(client().paymentIntent('pi_unknown')).resolves.toEqual({ kind: 'not_found', reason: "Stripe: No such payment_intent: 'pi_unknown'" });
  });

  it('throws a 429 as transient with its Retry-After, pauses the limiter, and does not retry by itself', async () => {
    const c = client();
    const err = await c.paymentIntent('pi_busy').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err).toMatchObject({ upstream: 'stripe', code: 'STRIPE_RATE_LIMITED', status: 429, retryAfterMs: 7000 });
    expect(stripe.requests).toHaveLength(1);
    await expect(c.paymentIntent('pi_busy')).resolves.toMatchObject({ kind: 'found' });
    expect(sleeps).toEqual([7000]); // the next request waited for Retry-After
  });

  it('throws a 5xx as transient, once: maxNetworkRetries is 0, Pub/Sub redelivery is the retry', async () => {
    await expect(client().paymentIntent('pi_broken')).rejects.toMatchObject({ code: 'STRIPE_UNAVAILABLE', status: 503 });
    expect(stripe.requests).toHaveLength(1);
  });

  it('throws a refused key as transient (an operator fixes the secret) without the key in the message', async () => {
    const wrong = 'sk_test_51WrongKeyWrongKeyWrong9999';
    const err = await client({ apiKey: wrong }).paymentIntent('pi_paid').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'STRIPE_AUTH', status: 401 });
    expect(String((err as Error).message)).not.toContain(wrong);
    expect(String((err as Error).message)).not.toContain(KEY);
  });

  it('times out a hung request as transient', async () => {
    await expect(client({ timeoutMs: 200 }).paymentIntent('pi_hung')).rejects.toMatchObject({ code: 'STRIPE_UNREACHABLE', message: expect.stringMatching(/timeout/) });
  });

  it('throws an unreachable API as transient', async () => {
    const closed = await startStripeFake(fixtures);
    await closed.close();
    const c = new StripePayments({ apiKey: KEY, apiBase: closed.url, timeoutMs: 2000, limiter: limiter(), clock });
    await expect(c.paymentIntent('pi_paid')).rejects.toMatchObject({ code: 'STRIPE_UNREACHABLE' });
  });
});
