import type { StripeFixtures } from '../local/fakes/stripe';
import type { TwilioFixtures } from '../local/fakes/twilio';

/** The credentials the lookup stand-ins expect: local-only values, never real keys. */
export const LOOKUP_KEYS = { stripe: 'sk_test_lookups', twilioSid: `AC${'d'.repeat(32)}`, twilioToken: 'lookups-token' } as const;

export interface LookupWorld {
  /** NDJSON, in arrival order. */
  readonly log: string;
  readonly stripe: StripeFixtures;
  readonly twilio: TwilioFixtures;
  readonly sales: number;
  readonly calls: number;
}

export interface LookupWorldOptions {
  /** Sales (each with a PaymentIntent to look up); calls are half as many. */
  readonly sales: number;
  /** Script a 500 and a 429 (no Retry-After) before some answers, so that lookups are retried. */
  readonly faults?: boolean;
  /** Lead events, duplicates and invalid lines between the sales and calls. */
  readonly noise?: boolean;
  readonly startMs?: number;
}

const sid = (n: number) => `CA${String(n).padStart(32, '0')}`;

/**
 * A log of sales and calls with the Stripe and Twilio truth behind them, covering what the
 * checkers decide: clean, a payment not succeeded, refunded, unknown to Stripe, an amount that
 * differs, a call longer or shorter than recorded, a call Twilio does not know.
 */
export function lookupWorld(options: LookupWorldOptions): LookupWorld {
  const { sales, faults = false, noise = false } = options;
  const start = options.startMs ?? Date.parse('2026-03-01T08:00:00Z');
  const at = (i: number) => new Date(start + i * 1000).toISOString();
  const paymentIntents: StripeFixtures['paymentIntents'] = {};
  const calls: TwilioFixtures['calls'] = {};
  const lines: string[] = [];
  const event = (type: string, id: string, time: string, data: object) => JSON.stringify({ specversion: '1.0', id, source: '//bench/lookups', type, time, data });
  let callCount = 0;
  for (let i = 0; i < sales; i++) {
    const pi = `pi_${i}`;
    const ok = { amount: 3500, currency: 'usd', status: 'succeeded' };
    const variants = [ok, { ...ok, status: 'requires_payment_method' }, { ...ok, amount_refunded: 1000 }, ok, undefined, { ...ok, amount: 4000 }];
    const truth = variants[i % 6];
    if (truth) paymentIntents[pi] = faults && i % 6 === 2 ? [{ fault: 'server_error' }, truth] : faults && i % 6 === 3 ? [{ fault: 'rate_limit' }, truth] : truth;
    const amount = i % 7 === 3 ? 3400 : 3500;
    const sale = event('sale.recorded', `s${i}`, at(3 * i), {
      order_id: `o${i}`,
      line_items: [{ sku: 'sku-a', unit_amount: 3500, quantity: 1 }],
      amount,
      currency: 'USD',
      amount_usd: amount,
      payment_intent_id: pi,
    });
    lines.push(sale);
    if (i % 2 === 0) {
      if (i % 5 !== 4) calls[sid(i)] = { status: 'completed', duration: i % 3 === 0 ? 61 : 42 };
      lines.push(event('call.completed', `c${i}`, at(3 * i + 1), { call_sid: sid(i), from: '+14155550100', to: '+14155550101', duration_seconds: 42, started_at: at(3 * i - 60) }));
      callCount++;
    }
    if (noise) {
      lines.push(event('lead.created', `l${i}`, at(3 * i + 2), { lead_id: `lead-${i}`, card_id: `card-${i}`, owner_id: 'owner-1' }));
      if (i % 11 === 5) lines.push(sale);
      if (i % 13 === 7) lines.push('{"not": "an event"}');
    }
  }
  return {
    log: `${lines.join('\n')}\n`,
    stripe: { apiKey: LOOKUP_KEYS.stripe, paymentIntents },
    twilio: { accountSid: LOOKUP_KEYS.twilioSid, authToken: LOOKUP_KEYS.twilioToken, calls },
    sales,
    calls: callCount,
  };
}
