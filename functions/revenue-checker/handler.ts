import { checkerHandler, type CheckerShellDeps } from '../../shared/checker';
import type { SaleRecorded } from '../../shared/events/envelope';
import { utcDate } from '../../shared/events/time';
import type { PaymentLookup, RatesProvider } from '../../shared/ports';
import { checkSale, NAME, needsRate, type PaymentFact, type RateFact, type RevenueConfig, type SaleFacts } from './core';

export interface RevenueCheckerDeps extends CheckerShellDeps {
  readonly config: RevenueConfig;
  readonly rates: RatesProvider;
  /** Stripe; without it the payment rule is skipped. */
  readonly payments?: PaymentLookup;
}

/** Looks up the rate of the sale's day and its PaymentIntent, at once. */
export async function lookUpSale(sale: SaleRecorded, timeMs: number, rates: RatesProvider, payments: PaymentLookup | undefined): Promise<SaleFacts> {
  const { currency, payment_intent_id: pi } = sale.data;
  const [rate, payment] = await Promise.all([
    needsRate(currency) ? rates.rate(currency, utcDate(timeMs)) : Promise.resolve<RateFact>({ kind: 'rate', rate: 1 }),
    payments && pi ? payments.paymentIntent(pi) : Promise.resolve<PaymentFact>({ kind: 'unchecked' }),
  ]);
  return { rate, payment };
}

/** revenue-checker on events-unique: sale.recorded → findings and events-corrected. */
export function revenueCheckerHandler(deps: RevenueCheckerDeps) {
  return checkerHandler(NAME, 'sale.recorded', deps, async (sale, timeMs, now) =>
    checkSale(sale, await lookUpSale(sale, timeMs, deps.rates, deps.payments), { now, config: deps.config }),
  );
}
