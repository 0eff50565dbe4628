import { randomBytes } from 'node:crypto';
import { malformedReply, Scripts, startJsonServer, type FakeServer, type Fault, type JsonServerOptions, type Reply, type Scripted } from './http';

/**
 * A local stand-in for the Stripe API (the part the revenue-checker reads): `GET
 * /v1/payment_intents/:id`, with `expand[]=latest_charge`, answering with Stripe's bodies,
 * status codes and error bodies. Point the SDK at it with STRIPE_API_BASE=<url>.
 */

/** A PaymentIntent as the stand-in should report it. */
export interface FakePaymentIntent {
  readonly amount: number;
  /** ISO 4217, any case: Stripe answers lower case. */
  readonly currency: string;
  /** requires_payment_method, requires_confirmation, requires_action, processing, requires_capture, canceled, succeeded */
  readonly status: string;
  /** Refunded on the latest charge, in minor units. */
  readonly amount_refunded?: number;
  /** `automatic` (the fixture's), `automatic_async` or `manual`. */
  readonly capture_method?: string;
  /** What was captured: the whole amount once succeeded unless given (a partial manual capture is less). */
  readonly amount_received?: number;
  /** The latest charge's `disputed` (a lost dispute refunds nothing: `amount_refunded` stays 0). */
  readonly disputed?: boolean;
  /** Which mode the object lives in (the fixtures: test). A key of the other mode gets Stripe's 404. */
  readonly livemode?: boolean;
}

export interface StripeFixtures {
  /** The secret key requests must carry (`Authorization: Bearer …`); any key when absent. */
  readonly apiKey?: string;
  /** By PaymentIntent id; an id not listed is unknown to Stripe (404). */
  readonly paymentIntents: Record<string, Scripted<FakePaymentIntent | Fault>>;
}

const CREATED = 1_772_000_000;

export function startStripeFake(fixtures: StripeFixtures, options: JsonServerOptions = {}): Promise<FakeServer> {
  const scripts = new Scripts<FakePaymentIntent | Fault>();
  return startJsonServer((req, url, record) => {
    const key = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const authorized = key !== undefined && (fixtures.apiKey === undefined || key === fixtures.apiKey);
    record(authorized);
    if (!authorized) {
      const shown = key ? `${key.slice(0, 8)}${'*'.repeat(Math.max(0, key.length - 12))}${key.slice(-4)}` : '';
      return stripeError(401, { type: 'invalid_request_error', message: key ? `Invalid API Key provided: ${shown}` : 'You did not provide an API key.' });
    }
    const m = /^\/v1\/payment_intents\/([^/]+)$/.exec(url.pathname);
    if (req.method !== 'GET' || !m) {
      return stripeError(404, { type: 'invalid_request_error', message: `Unrecognized request URL (${req.method}: ${url.pathname}).` });
    }
    const id = decodeURIComponent(m[1]!);
    const found = scripts.next(id, Object.hasOwn(fixtures.paymentIntents, id) ? fixtures.paymentIntents[id] : undefined);
    const keyLive = key.startsWith('sk_live_') || key.startsWith('rk_live_');
    if (found !== undefined && !('fault' in found) && (found.livemode ?? false) !== keyLive) {
      // Stripe's answer when the object exists in the other mode.
      const [objectMode, keyMode] = keyLive ? ['test', 'live'] : ['live', 'test'];
      return stripeError(404, {
        code: 'resource_missing',
        doc_url: 'https://stripe.com/docs/error-codes/resource-missing',
        message: `No such payment_intent: '${id}'; a similar object exists in ${objectMode} mode, but a ${keyMode} mode key was used to make this request.`,
        param: 'intent',
        type: 'invalid_request_error',
      });
    }
    if (found === undefined || ('fault' in found && found.fault === 'not_found')) {
      return stripeError(404, {
        code: 'resource_missing',
        doc_url: 'https://stripe.com/docs/error-codes/resource-missing',
        message: `No such payment_intent: '${id}'`,
        param: 'intent',
        type: 'invalid_request_error',
      });
    }
    if ('fault' in found) {
      switch (found.fault) {
        case 'rate_limit':
          return stripeError(
            429,
            { code: 'rate_limit', message: 'Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.', type: 'invalid_request_error' },
            {
              ...(found.retryAfterSeconds === undefined ? {} : { 'retry-after': String(found.retryAfterSeconds) }),
              ...(found.shouldRetry === undefined ? {} : { 'stripe-should-retry': String(found.shouldRetry) }),
            },
          );
        case 'server_error':
          return stripeError(found.status ?? 500, { message: 'An unknown error occurred', type: 'api_error' });
        case 'malformed':
          return malformedReply(paymentIntent(id, { amount: 0, currency: 'usd', status: 'succeeded' }, false));
        case 'hang':
          return { hang: true };
        default: {
          const never: never = found;
          throw new Error(`unknown fault ${JSON.stringify(never)}`);
        }
      }
    }
    const expand = [...url.searchParams.entries()].filter(([k]) => /^expand(\[\d*\])?$/.test(k)).map(([, v]) => v);
    return { status: 200, body: paymentIntent(id, found, expand.includes('latest_charge')), headers: stripeHeaders() };
  }, options);
}

/**
 * The PaymentIntent object as the Stripe API returns it: the fields of the `payment_intent`
 * resource of Stripe's published fixtures (stripe/openapi, fixtures3.json), with values that
 * follow from the scripted state; `latest_charge` expanded to a `charge` resource on request.
 */
function paymentIntent(id: string, pi: FakePaymentIntent, expandCharge: boolean) {
  const currency = pi.currency.toLowerCase();
  const chargeId = `ch_${id.slice(3)}`;
  const succeeded = pi.status === 'succeeded';
  const received = succeeded ? (pi.amount_received ?? pi.amount) : 0;
  const refunded = pi.amount_refunded ?? 0;
  const livemode = pi.livemode ?? false;
  const charge = {
    id: chargeId,
    object: 'charge',
    amount: pi.amount,
    amount_captured: received,
    amount_refunded: refunded,
    balance_transaction: succeeded ? `txn_${id.slice(3)}` : null,
    captured: succeeded,
    created: CREATED,
    currency,
    customer: null,
    description: null,
    disputed: pi.disputed ?? false,
    failure_code: succeeded ? null : 'card_declined',
    failure_message: succeeded ? null : 'Your card was declined.',
    livemode,
    metadata: {},
    paid: succeeded,
    payment_intent: id,
    refunded: refunded > 0 && refunded >= received,
    status: succeeded ? 'succeeded' : 'failed',
  };
  return {
    id,
    object: 'payment_intent',
    amount: pi.amount,
    amount_capturable: pi.status === 'requires_capture' ? pi.amount : 0,
    amount_details: { tip: {} },
    amount_received: received,
    application: null,
    application_fee_amount: null,
    automatic_payment_methods: { enabled: true },
    canceled_at: pi.status === 'canceled' ? CREATED : null,
    cancellation_reason: null,
    capture_method: pi.capture_method ?? 'automatic',
    client_secret: `${id}_secret_${'x'.repeat(24)}`,
    confirmation_method: 'automatic',
    created: CREATED,
    currency,
    customer: null,
    description: null,
    last_payment_error: null,
    latest_charge: pi.status === 'requires_payment_method' ? null : expandCharge ? charge : chargeId,
    livemode,
    metadata: {},
    next_action: null,
    on_behalf_of: null,
    payment_method: pi.status === 'requires_payment_method' ? null : `pm_${id.slice(3)}`,
    payment_method_types: ['card'],
    processing: null,
    receipt_email: null,
    review: null,
    setup_future_usage: null,
    shipping: null,
    statement_descriptor: null,
    statement_descriptor_suffix: null,
    status: pi.status,
    transfer_data: null,
    transfer_group: null,
  };
}

function stripeHeaders(): Record<string, string> {
  return { 'request-id': `req_${randomBytes(7).toString('hex')}`, 'stripe-version': '2026-10-28.endive' };
}

function stripeError(status: number, error: Record<string, unknown>, headers: Record<string, string> = {}): Reply {
  const requestId = `req_${randomBytes(7).toString('hex')}`;
  return {
    status,
    body: { error: { ...error, request_log_url: `https://dashboard.stripe.com/test/logs/${requestId}` } },
    headers: { ...stripeHeaders(), 'request-id': requestId, ...headers },
  };
}
