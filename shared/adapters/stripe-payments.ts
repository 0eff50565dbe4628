import type StripeSdk from 'stripe';
import { z } from 'zod';
import type { Clock, PaymentLookup, PaymentLookupResult } from '../ports';
import type { RateLimiter } from './rate-limiter';
import { parseRetryAfter, statusCode, UpstreamConfigError, UpstreamError } from './upstream-error';

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
  amount_received: z.int().nonnegative(),
  currency: z.string().regex(/^[a-z]{3}$/),
  latest_charge: z.union([z.null(), z.string(), z.looseObject({ amount_refunded: z.int().nonnegative(), disputed: z.boolean() })]).optional(),
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
      return this.failure(sdk, err, id);
    }
    const parsed = PaymentIntentBody.safeParse(body);
    if (!parsed.success) {
      throw new UpstreamError('stripe', `unexpected PaymentIntent body: ${z.prettifyError(parsed.error)}`, 'STRIPE_BAD_RESPONSE');
    }
    const pi = parsed.data;
    const charge = pi.latest_charge !== null && typeof pi.latest_charge === 'object' ? pi.latest_charge : undefined;
    return {
      kind: 'found',
      payment: {
        id: pi.id,
        status: pi.status,
        amount: pi.amount,
        currency: pi.currency.toUpperCase(),
        amountRefunded: charge?.amount_refunded ?? 0,
        amountReceived: pi.amount_received,
        disputed: charge?.disputed ?? false,
      },
    };
  }

  private failure(sdk: Sdk, err: unknown, id: string): PaymentLookupResult {
    if (!(err instanceof sdk.errors.StripeError)) throw err;
    const status = err.statusCode;
    if (status === undefined) {
      // StripeConnectionError: a timeout, a refused or reset connection.
      throw new UpstreamError('stripe', err.message, 'STRIPE_UNREACHABLE', undefined, undefined, { cause: err });
    }
    if (status === 404) {
      const mode = WRONG_MODE.exec(err.message);
      if (mode) {
        throw new UpstreamConfigError('stripe', `STRIPE_API_KEY is a ${mode[2]} mode key, but the PaymentIntent ${id} exists in ${mode[1]} mode: configure a ${mode[1]} mode key`, 'STRIPE_WRONG_MODE', status, { cause: err });
      }
      return { kind: 'not_found', reason: `Stripe: ${err.message}` };
    }
    // The header the SDK itself obeys (its _shouldRetry): Stripe knows better than the status.
    const shouldRetry = header(err.headers, 'stripe-should-retry');
    if (shouldRetry === 'false' && status !== 401 && status !== 403) {
      return { kind: 'rejected', reason: `Stripe answered ${status} and says not to retry (Stripe-Should-Retry: false): ${err.message}` };
    }
    if (shouldRetry === 'true' || status === 429 || status === 409 || status >= 500 || status === 401 || status === 403 || err instanceof sdk.errors.StripeRateLimitError) {
      const retryAfterMs = parseRetryAfter(err.headers?.['retry-after'], this.options.clock.now());
      if (retryAfterMs !== undefined) this.options.limiter.pauseUntil(this.options.clock.now() + retryAfterMs);
      const code = err instanceof sdk.errors.StripeRateLimitError ? 'STRIPE_RATE_LIMITED' : statusCode('stripe', status);
      throw new UpstreamError('stripe', `${status} ${err.message}`, code, status, retryAfterMs, { cause: err });
    }
    return { kind: 'rejected', reason: `Stripe answered ${status}: ${err.message}` };
  }
}

/** Stripe's 404 for an object of the other mode: "…; a similar object exists in test mode, but a live mode key was used…". */
const WRONG_MODE = /a similar object exists in (test|live) mode, but an? (live|test) mode key was used/;

function header(headers: Record<string, unknown> | undefined, name: string): string | undefined {
  const v = headers?.[name];
  return typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : undefined;
}

/** `http://host:port` → the SDK's host, port and protocol settings (DESIGN §8). */
function endpoint(base: string): { host: string; port: string; protocol: 'http' | 'https' } {
  const url = new URL(base);
  const protocol = url.protocol === 'http:' ? 'http' : url.protocol === 'https:' ? 'https' : undefined;
  if (!protocol) throw new RangeError(`STRIPE_API_BASE must be an http or https URL, got ${url.protocol}`);
  return { host: url.hostname, port: url.port || (protocol === 'http' ? '80' : '443'), protocol };
}
