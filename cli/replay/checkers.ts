import { checkCall, type CallFact } from '../../functions/call-duration-checker/core';
import { checkSale, needsRate, type PaymentFact, type RateFact, type RevenueContext } from '../../functions/revenue-checker/core';
import { checkCrm, DEFAULT_CRM_CONFIG, type CrmConfig, type CrmContext, type CrmFact } from '../../functions/crm-checker/core';
import { FileRates } from '../../shared/adapters/file-rates';
import type { BusinessEvent, CallCompleted, CrmSynced, SaleRecorded } from '../../shared/events/envelope';
import { utcDate } from '../../shared/events/time';
import type { Outcome } from '../../shared/outcome';
import type { RatesFile } from '../../shared/rates/file';

/** What the checkers decide with: plain data, so that a replay worker can hold it too. */
export interface OfflineChecks {
  readonly now: number;
  /** The `--rates` table; without it FX is unchecked. */
  readonly rates?: RatesFile;
  readonly reviewFactor: number;
  readonly crmConfig?: CrmConfig;
}

/**
 * The checkers' cores as replay calls them, given what Stripe, Twilio or a CRM answered (or
 * `unchecked`, when nobody is asked). The stages call them on the main thread; a replay worker
 * calls `quiet` for every event, so that the main thread need not decode an event that no
 * lookup is asked about and that the checkers have nothing to say about.
 */
export class Checkers {
  private readonly revenue: RevenueContext;
  private readonly crm: CrmContext;
  // Logs run in time order: the day of the last sale is usually the day of the next.
  private lastDay = Number.NaN;
  private lastDate = '';

  constructor(
    private readonly now: number,
    private readonly rates: FileRates | undefined,
    reviewFactor: number,
    crmConfig: CrmConfig = DEFAULT_CRM_CONFIG,
  ) {
    this.revenue = { now, config: { reviewFactor } };
    // Replay never writes to a CRM: repair is off.
    this.crm = { now, config: { ...crmConfig, repair: false } };
  }

  static of(checks: OfflineChecks): Checkers {
    return new Checkers(checks.now, checks.rates ? new FileRates(checks.rates) : undefined, checks.reviewFactor, checks.crmConfig);
  }

  /** The rate `sale` is checked with, from the table as of its event time. */
  rateOf(sale: SaleRecorded, timeMs: number): RateFact {
    const { currency } = sale.data;
    if (!this.rates) return { kind: 'unchecked', reason: 'no exchange rates (replay without --rates)' };
    if (!needsRate(currency)) return { kind: 'rate', rate: 1 };
    const day = Math.floor(timeMs / 86_400_000);
    if (day !== this.lastDay) {
      this.lastDay = day;
      this.lastDate = utcDate(timeMs);
    }
    return this.rates.lookup(currency, this.lastDate);
  }

  sale(sale: SaleRecorded, rate: RateFact, payment: PaymentFact): Outcome {
    return checkSale(sale, { rate, payment }, this.revenue);
  }

  call(call: CallCompleted, fact: CallFact): Outcome {
    const verdict = checkCall(call, fact, { now: this.now });
    // No redelivery in replay: a call Twilio has not ended yet is for review.
    return verdict.kind === 'decided' ? verdict.outcome : verdict.fallback;
  }

  crmSync(sync: CrmSynced, fact: CrmFact): Outcome {
    return checkCrm(sync, fact, this.crm);
  }

  /** Whether the checkers, asking nobody, have nothing to say about `event` (no finding, no correction). */
  quiet(event: BusinessEvent, timeMs: number): boolean {
    let outcome: Outcome;
    switch (event.type) {
      case 'sale.recorded':
        outcome = this.sale(event, this.rateOf(event, timeMs), UNCHECKED);
        break;
      case 'call.completed':
        outcome = this.call(event, UNCHECKED);
        break;
      case 'crm.synced':
        outcome = this.crmSync(event, UNCHECKED);
        break;
      default:
        return true;
    }
    return outcome.findings.length === 0 && outcome.correction === undefined;
  }
}

/** The fact of a check that asks nobody. */
export const UNCHECKED = { kind: 'unchecked' } as const;

