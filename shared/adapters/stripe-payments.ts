import type StripeSdk from 'stripe';
import { z } from 'zod';
import type { Clock, PaymentLookup, PaymentLookupResult } from '../ports';
import type { RateLimiter } from './rate-limiter';
import { parseRetryAfter, statusCode, UpstreamError } from './upstream-error';

export interface StripePaymentsOptions {
  readonly apiKey: string;
  /** e.g. http://127.0.0.1:12111 for a local stand-in; default Stripe's own API. */
  readonly apiBase?: string;
  readonly timeoutMs: number;
  readonly limiter: RateLimiter;
  readonly clock: Clock;
}

/** The parts of a PaymentIntent (with `latest_charge` expanded) the rules rely on. */
const PaymentIntentBody = z.looseObject({
  id: z.string(),
  status: z.string(),
  amount: z.int().nonnegative(),
  currency: z.string().regex(/^[a-z]{3}$/),
  latest_charge: z.union([z.null(), z.string(), z.looseObject({ amount_refunded: z.int().nonnegative() })]).optional(),
});

type Sdk = typeof StripeSdk;

/**
 * Stripe PaymentIntents through the official SDK. The SDK's own retries are off
 * (`maxNetworkRetries: 0`): it never retries a 429 nor reads `Retry-After`, and its retries of
 * 5xx would bypass the rate limiter while holding the message; Pub/Sub redelivery with backoff
 * is the retry, and a 429's `Retry-After` pauses this client's limiter. The SDK is loaded on
 * first use: every function shares one deployable, and the others' cold starts should not pay
 * for it.
 */
export class StripePayments implements PaymentLookup {
  private client: Promise<{ sdk: Sdk; stripe: StripeSdk }> | undefined;
  private readonly endpoint: ReturnType<typeof endpoint> | undefined;

  constructor(private readonly options: StripePaymentsOptions) {
    this.endpoint = options.apiBase ? endpoint(options.apiBase) : undefined;
  }

  private load(): Promise<{ sdk: Sdk; stripe: StripeSdk }> {
    this.client ??= import('stripe').then(({ default: sdk }) => ({
      sdk,
      stripe: new sdk(this.options.apiKey, { maxNetworkRetries: 0, timeout: this.options.timeoutMs, telemetry: false, ...this.endpoint }),
    }));
    return this.client;
  }

  async paymentIntent(id: string): Promise<PaymentLookupResult> {
    const { sdk, stripe } = await this.load();
    await this.options.limiter.acquire();
    let body: unknown;
    try {
      body = await stripe.paymentIntents.retrieve(id, { expand: ['latest_charge'] });
    } catch (err) {
      return this.failure(sdk, err);
    }
    const parsed = PaymentIntentBody.safeParse(body);
    if (!parsed.success) {
      throw new UpstreamError('stripe', `unexpected PaymentIntent body: ${z.prettifyError(parsed.error)}`, 'STRIPE_BAD_RESPONSE');
    }
    const pi = parsed.data;
    const charge = pi.latest_charge;
    return {
      kind: 'found',
      payment: {
        id: pi.id,
        status: pi.status,
        amount: pi.amount,
        currency: pi.currency.toUpperCase(),
        amountRefunded: charge !== null && typeof charge === 'object' ? charge.amount_refunded : 0,
      },
    };
  }

  private failure(sdk: Sdk, err: unknown): PaymentLookupResult {
    if (!(err instanceof sdk.errors.StripeError)) throw err;
    const status = err.statusCode;
    if (status === undefined) {
      // StripeConnectionError: a timeout, a refused or reset connection.
      throw new UpstreamError('stripe', err.message, 'STRIPE_UNREACHABLE', undefined, undefined, { cause: err });
    }
    if (status === 404) return { kind: 'not_found', reason: `Stripe: ${err.message}` };
    if (status === 429 || status === 409 || status >= 500 || status === 401 || status === 403 || err instanceof sdk.errors.StripeRateLimitError) {
      const retryAfterMs = parseRetryAfter(err.headers?.['retry-after'], this.options.clock.now());
      if (retryAfterMs !== undefined) this.options.limiter.pauseUntil(this.options.clock.now() + retryAfterMs);
      const code = err instanceof sdk.errors.StripeRateLimitError ? 'STRIPE_RATE_LIMITED' : statusCode('stripe', status);
      throw new UpstreamError('stripe', `${status} ${err.message}`, code, status, retryAfterMs, { cause: err });
    }
    return { kind: 'rejected', reason: `Stripe answered ${status}: ${err.message}` };
  }
}

/** `http://host:port` → the SDK's host, port and protocol settings (DESIGN §8). */
function endpoint(base: string): { host: string; port: string; protocol: 'http' | 'https' } {
  const url = new URL(base);
  const protocol = url.protocol === 'http:' ? 'http' : url.protocol === 'https:' ? 'https' : undefined;
  if (!protocol) throw new RangeError(`STRIPE_API_BASE must be an http or https URL, got ${url.protocol}`);
  return { host: url.hostname, port: url.port || (protocol === 'http' ? '80' : '443'), protocol };
}
