import { buildCorrection } from '../../shared/corrections';
import { fromStripeAmount, minorUnitExponent, toUsdCents } from '../../shared/events/currency';
import type { LineItem, SaleRecordedData } from '../../shared/events/catalog';
import type { SaleRecorded } from '../../shared/events/envelope';
import { assertNever } from '../../shared/events/keys';
import type { FindingAction, MismatchFinding, MismatchKind } from '../../shared/findings';
import type { Outcome } from '../../shared/outcome';
import type { PaymentLookupResult, PaymentView, RateLookup } from '../../shared/ports';

export const NAME = 'revenue-checker';

export interface RevenueConfig {
  /**
   * A correction that would move `amount_usd` by more than this factor, either way, is held
   * for review instead of published (DESIGN §3; a recorded 0 always counts as more).
   */
  readonly reviewFactor: number;
}

export const DEFAULT_REVIEW_FACTOR = 3;

export interface RevenueContext {
  readonly now: number;
  readonly config: RevenueConfig;
}

/** The rate for the UTC date of the sale, or that no rates are configured at all (FX unchecked). */
export type RateFact = RateLookup | { readonly kind: 'unchecked'; readonly reason: string };

/** What Stripe says about the sale's PaymentIntent, or that it was not asked. */
export type PaymentFact = PaymentLookupResult | { readonly kind: 'unchecked' };

/** What the handler (or replay) looked up for one sale; the core never looks anything up. */
export interface SaleFacts {
  readonly rate: RateFact;
  readonly payment: PaymentFact;
}

/** USD converts at 1 without a rate table; every other currency needs the day's rate. */
export function needsRate(currency: string): boolean {
  return currency !== 'USD';
}

/** Σ unit_amount × quantity; `undefined` when it leaves the range integers are exact in. */
export function lineItemsTotal(items: readonly LineItem[]): number | undefined {
  let total = 0;
  for (const item of items) total += item.unit_amount * item.quantity;
  // Every term is ≥ 0, so an inexact intermediate would leave the final sum unsafe too.
  return Number.isSafeInteger(total) ? total : undefined;
}

/**
 * The tolerance of DESIGN §3 in integers: a recorded `amount_usd` is wrong when it is more
 * than 1 cent AND more than 0.5 % away from the exact conversion.
 */
export function isFxMismatch(expected: number, actual: number): boolean {
  const diff = Math.abs(actual - expected);
  return diff > 1 && diff * 200 > expected;
}

/** Whether moving `amount_usd` from `recorded` to `corrected` needs a person (DESIGN §3). */
export function exceedsReviewFactor(recorded: number, corrected: number, factor: number): boolean {
  if (corrected === recorded) return false;
  if (recorded === 0) return true;
  return corrected > recorded * factor || corrected * factor < recorded;
}

/** What a rule detected, before the sale's action is known. */
interface Detection {
  readonly kind: MismatchKind;
  readonly field: string;
  readonly expected?: unknown;
  readonly actual: unknown;
  /** Set on what only a person can settle; fixable detections have none. */
  readonly reason?: string;
}

/**
 * The revenue rules of DESIGN §3 for one sale: (a) the amount against its line items, (b) the
 * recorded conversion against the day's rate, (c) the payment against Stripe. Fixable
 * detections become one correction event that carries every fix; if anything about the sale
 * needs a person (a payment problem, a missing rate, a correction beyond the review factor),
 * every finding says `review` and nothing is corrected.
 */
export function checkSale(sale: SaleRecorded, facts: SaleFacts, ctx: RevenueContext): Outcome {
  const d = sale.data;
  // Rule (b) runs only where rates are configured (replay without --rates skips FX checks,
  // USD included); a correction still converts USD at 1 when it recomputes amount_usd.
  const checkRate: RateFact = facts.rate.kind === 'unchecked' || needsRate(d.currency) ? facts.rate : { kind: 'rate', rate: 1 };
  const rate: RateFact = needsRate(d.currency) ? facts.rate : { kind: 'rate', rate: 1 };
  const detections: Detection[] = [];

  // (a) What was sold: the line items.
  const total = lineItemsTotal(d.line_items);
  if (total === undefined) {
    detections.push({ kind: 'amount_mismatch', field: 'amount', actual: d.amount, reason: 'the line items total more than 2^53 - 1 minor units' });
  } else if (total !== d.amount) {
    detections.push({ kind: 'amount_mismatch', field: 'amount', expected: total, actual: d.amount });
  }
  const amount = total ?? d.amount;

  // (b) The conversion of the recorded amount.
  switch (checkRate.kind) {
    case 'rate': {
      const expected = toUsdCents(d.amount, d.currency, checkRate.rate);
      if (isFxMismatch(expected, d.amount_usd)) detections.push({ kind: 'fx_mismatch', field: 'amount_usd', expected, actual: d.amount_usd });
      break;
    }
    case 'missing':
      detections.push({ kind: 'fx_mismatch', field: 'amount_usd', actual: d.amount_usd, reason: checkRate.reason });
      break;
    case 'unchecked':
      break;
    default:
      assertNever(checkRate);
  }

  // (c) What was paid: Stripe.
  detections.push(...paymentDetections(sale, amount, facts.payment));

  const findings = (action: FindingAction, held?: string) => detections.map((x) => toFinding(sale, x, action, held));
  if (detections.length === 0) return { findings: [] };
  const forPerson = detections.find((x) => x.reason !== undefined);
  if (forPerson) return { findings: findings('review', forPerson.reason) };

  // One correction carries every fix; a corrected amount also recomputes amount_usd.
  if (rate.kind !== 'rate') return { findings: findings('review', `amount_usd cannot be recomputed: ${rate.reason}`) };
  const amountUsd = toUsdCents(amount, d.currency, rate.rate);
  const factor = ctx.config.reviewFactor;
  if (exceedsReviewFactor(d.amount_usd, amountUsd, factor)) {
    return {
      findings: findings('review', `the correction would move amount_usd from ${d.amount_usd} to ${amountUsd} US cents, beyond the review factor ${factor}`),
    };
  }
  const data: SaleRecordedData = { ...d, amount, amount_usd: amountUsd, ...(needsRate(d.currency) ? { fx_rate: rate.rate } : {}) };
  return { findings: findings('corrected'), correction: buildCorrection(sale, NAME, data) };
}

/** A detection as a finding of DESIGN §4; a fixable one held for review says why. */
function toFinding(sale: SaleRecorded, x: Detection, action: FindingAction, held: string | undefined): MismatchFinding {
  const f: MismatchFinding = { kind: x.kind, action, event_id: sale.id, type: sale.type, source: sale.source, field: x.field };
  if (x.expected !== undefined) f.expected = x.expected;
  f.actual = x.actual;
  const reason = x.reason ?? (action === 'review' && held !== undefined ? `correction held for review: ${held}` : undefined);
  if (reason !== undefined) f.reason = reason;
  return f;
}

/**
 * Stripe's amounts in the event's unit, ISO 4217 minor units (DESIGN §3: Stripe counts ISK and
 * UGX in hundredths, MGA in whole ariary), so that every comparison and finding below is in one
 * unit. A currency unknown to ISO stays as Stripe said: the currency check reports it.
 */
function inIsoUnits(p: PaymentView): PaymentView {
  if (minorUnitExponent(p.currency) === undefined) return p;
  const iso = (n: number) => fromStripeAmount(n, p.currency);
  return { ...p, amount: iso(p.amount), amountReceived: iso(p.amountReceived), amountRefunded: iso(p.amountRefunded) };
}

/**
 * Stripe decides what was paid; the line items what was sold. Any disagreement, and any
 * payment that did not succeed or was refunded, is for a person.
 */
function paymentDetections(sale: SaleRecorded, amount: number, fact: PaymentFact): Detection[] {
  const pi = sale.data.payment_intent_id;
  switch (fact.kind) {
    case 'unchecked':
      return [];
    case 'not_found':
    case 'rejected':
      return [{ kind: 'payment_mismatch', field: 'payment_intent_id', actual: pi, reason: fact.reason }];
    case 'found': {
      const p = inIsoUnits(fact.payment);
      const out: Detection[] = [];
      if (p.status !== 'succeeded') {
        out.push({ kind: 'payment_mismatch', field: 'status', expected: 'succeeded', actual: p.status, reason: `Stripe reports PaymentIntent ${p.id} as ${p.status}` });
      }
      if (p.status === 'succeeded' && p.amountReceived < p.amount) {
        out.push({
          kind: 'payment_mismatch',
          field: 'amount_received',
          expected: p.amount,
          actual: p.amountReceived,
          reason: `Stripe received ${p.amountReceived} of ${p.amount} ${p.currency} minor units for ${p.id} (a partial capture)`,
        });
      }
      if (p.amountRefunded > 0) {
        out.push({
          kind: 'payment_mismatch',
          field: 'amount_refunded',
          expected: 0,
          actual: p.amountRefunded,
          reason: `Stripe reports ${p.amountRefunded} of ${p.amount} ${p.currency} minor units of ${p.id} refunded`,
        });
      }
      if (p.disputed) {
        out.push({
          kind: 'payment_mismatch',
          field: 'dispute',
          expected: false,
          actual: true,
          reason: `Stripe reports the charge of PaymentIntent ${p.id} disputed: the payment may be taken back`,
        });
      }
      if (p.currency !== sale.data.currency) {
        out.push({
          kind: 'payment_mismatch',
          field: 'currency',
          expected: p.currency,
          actual: sale.data.currency,
          reason: `Stripe charged ${p.id} in ${p.currency}; the sale is recorded in ${sale.data.currency}`,
        });
      } else if (p.amount !== amount) {
        out.push({
          kind: 'payment_mismatch',
          field: 'amount',
          expected: p.amount,
          actual: amount,
          reason: `Stripe charged ${p.amount} ${p.currency} minor units for ${p.id}; the line items total ${amount}`,
        });
      }
      return out;
    }
    default:
      return assertNever(fact);
  }
}
