/**
 * Ports for the facts the incorrect-event checkers look up outside the event: exchange rates,
 * Stripe payments, Twilio calls and CRM records. Adapters throw `TransientError` for faults worth retrying
 * (429, 5xx, timeouts, unreachable); everything they answer is a fact about the event.
 */

/** A rate in units of `currency` per 1 USD (OpenExchangeRates convention), or why there is none. */
export type RateLookup =
  | { readonly kind: 'rate'; readonly rate: number }
  | { readonly kind: 'missing'; readonly reason: string };

export interface RatesProvider {
  /** The rate of `currency` for the UTC date `day` (YYYY-MM-DD). */
  rate(currency: string, day: string): Promise<RateLookup>;
}

/**
 * The fields of a Stripe PaymentIntent the revenue rules rely on, as Stripe reports them:
 * `currency` upper case, amounts in Stripe's unit for the currency (not always ISO 4217's: see
 * `stripeExponent` in shared/events/currency.ts; the rules convert before comparing).
 */
export interface PaymentView {
  readonly id: string;
  readonly status: string;
  readonly amount: number;
  readonly currency: string;
  /** Refunded on the PaymentIntent's latest charge (0 when none). */
  readonly amountRefunded: number;
  /** Received (captured) on the PaymentIntent: below `amount` after a partial capture. */
  readonly amountReceived: number;
  /** The latest charge's `disputed`: a cardholder disputed it (the payment may be taken back). */
  readonly disputed: boolean;
}

export type PaymentLookupResult =
  | { readonly kind: 'found'; readonly payment: PaymentView }
  /** Stripe answered 404: it does not know this PaymentIntent. */
  | { readonly kind: 'not_found'; readonly reason: string }
  /** Stripe refused the lookup for a reason about this request (a 4xx other than 401/403/404/429). */
  | { readonly kind: 'rejected'; readonly reason: string };

export interface PaymentLookup {
  paymentIntent(id: string): Promise<PaymentLookupResult>;
}

/** The fields of a Twilio Call the duration rule relies on. */
export interface CallView {
  readonly sid: string;
  /** queued, ringing, in-progress, completed, busy, failed, no-answer, canceled */
  readonly status: string;
  /** Whole seconds; `undefined` where Twilio leaves the duration empty. */
  readonly durationSeconds: number | undefined;
}

export type CallLookupResult =
  | { readonly kind: 'found'; readonly call: CallView }
  /** Twilio answered 404: it does not know this call. */
  | { readonly kind: 'not_found'; readonly reason: string };

export interface CallLookup {
  call(sid: string): Promise<CallLookupResult>;
}

/** The CRMs a `crm.synced` event may name (the catalog's `crm`). */
export type CrmName = 'hubspot' | 'salesforce';

/** The fields of a CRM record the CRM rule compares: as the CRM holds them, `undefined` when empty. */
export interface CrmRecordView {
  readonly id: string;
  readonly email: string | undefined;
  readonly phone: string | undefined;
}

export type CrmLookupResult =
  | { readonly kind: 'found'; readonly record: CrmRecordView }
  /** The CRM answered 404, or the id cannot name a record it keeps: the sync did not happen. */
  | { readonly kind: 'not_found'; readonly reason: string };

/** The values the CRM rule writes back to a record (only those the event carries). */
export interface CrmFields {
  readonly email?: string;
  readonly phone?: string;
}

export interface CrmLookup {
  readonly crm: CrmName;
  record(id: string): Promise<CrmLookupResult>;
  /** Sets these fields of the record (an idempotent write: the same values again change nothing). */
  update(id: string, fields: CrmFields): Promise<void>;
}
