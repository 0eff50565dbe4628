import { z } from 'zod';
import { checkCall, cleanUnchecked, NAME as CALL_DURATION_CHECKER, type CallFact } from '../../functions/call-duration-checker/core';
import {
  checkSale,
  DEFAULT_REVIEW_FACTOR,
  NAME as REVENUE_CHECKER,
  needsRate,
  type PaymentFact,
  type RateFact,
  type RevenueContext,
} from '../../functions/revenue-checker/core';
import { checkCrm, DEFAULT_CRM_CONFIG, NAME as CRM_CHECKER, type CrmConfig } from '../../functions/crm-checker/core';
import { CrmEnv, crmsFromEnv, StripeEnv, stripeFromEnv, TwilioEnv, twilioFromEnv } from '../../shared/adapters/external';
import { FileRates } from '../../shared/adapters/file-rates';
import { realSleep, type Sleep } from '../../shared/adapters/rate-limiter';
import { UpstreamError } from '../../shared/adapters/upstream-error';
import { ConfigError, TransientError } from '../../shared/errors';
import type { BusinessEvent, CallCompleted, SaleRecorded } from '../../shared/events/envelope';
import { utcDate } from '../../shared/events/time';
import type { Outcome } from '../../shared/outcome';
import { systemClock, type CallLookup, type Clock, type CrmLookup, type CrmName, type PaymentLookup } from '../../shared/ports';
import type { ReplayStage, StageOptions, StageOutput } from './stage';

/** How replay retries a transient API fault: nobody redelivers here. */
export interface RetryPolicy {
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly sleep: Sleep;
}

/**
 * Stripe and Twilio lookups pending at once by default (`--max-in-flight`): enough to keep
 * Stripe's live read limit (100/s) busy at ~300 ms an answer; few enough that a key Stripe refuses
 * stops the run after a handful of requests.
 */
export const DEFAULT_MAX_IN_FLIGHT = 32;

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 500, maxDelayMs: 30_000, sleep: realSleep };

/**
 * Runs `fn` until it answers, with exponential backoff between transient faults. A fault that
 * came with `Retry-After` is not slept on here: the client's rate limiter already holds every
 * request of that client until then. After the last attempt the fault ends the run, as a
 * replay whose configured checks silently did not run would mislead.
 */
export async function retryTransient<T>(fn: () => Promise<T>, policy: RetryPolicy): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof TransientError) || attempt >= policy.attempts) throw err;
      if (err instanceof UpstreamError && err.retryAfterMs !== undefined) continue;
      await policy.sleep(Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1)));
    }
  }
}

export interface CheckerStageOptions {
  readonly now: number;
  /** The `--rates` table; without it FX is unchecked. */
  readonly rates?: FileRates;
  readonly payments?: PaymentLookup;
  readonly calls?: CallLookup;
  /** The CRMs whose credentials are configured; only their syncs are checked. */
  readonly crms?: Partial<Record<CrmName, CrmLookup>>;
  readonly crmConfig?: CrmConfig;
  readonly reviewFactor: number;
  readonly retry?: RetryPolicy;
}

function emit(out: StageOutput, original: BusinessEvent, outcome: Outcome): void {
  for (const f of outcome.findings) out.finding(f);
  if (outcome.correction) out.correction(outcome.correction, original);
}

/**
 * revenue-checker in replay: the same core, rates from `--rates`, Stripe only with credentials.
 * A Stripe lookup is deferred (`out.defer`): several run at once, each through the client's rate
 * limiter, and the outcome is written where it would have been had the replay waited.
 */
export function revenueStage(options: CheckerStageOptions): ReplayStage {
  const ctx: RevenueContext = { now: options.now, config: { reviewFactor: options.reviewFactor } };
  const { rates, payments } = options;
  const retry = options.retry ?? DEFAULT_RETRY;
  // Logs run in time order: the day of the last sale is usually the day of the next.
  let lastDay = Number.NaN;
  let lastDate = '';
  const rateOf = (sale: SaleRecorded, timeMs: number): RateFact => {
    const { currency } = sale.data;
    if (!rates) return { kind: 'unchecked', reason: 'no exchange rates (replay without --rates)' };
    if (!needsRate(currency)) return { kind: 'rate', rate: 1 };
    const day = Math.floor(timeMs / 86_400_000);
    if (day !== lastDay) {
      lastDay = day;
      lastDate = utcDate(timeMs);
    }
    return rates.lookup(currency, lastDate);
  };
  return {
    name: REVENUE_CHECKER,
    onAccepted(e, out) {
      if (e.type !== 'sale.recorded') return;
      const sale = e.event;
      if (sale.type !== 'sale.recorded') return;
      const rate = rateOf(sale, e.timeMs);
      const pi = sale.data.payment_intent_id;
      if (payments && pi) {
        out.defer(retryTransient(() => payments.paymentIntent(pi), retry).then((payment) => (o) => emit(o, sale, checkSale(sale, { rate, payment }, ctx))));
        return;
      }
      const payment: PaymentFact = { kind: 'unchecked' };
      emit(out, sale, checkSale(sale, { rate, payment }, ctx));
    },
    checks: () => ({
      fx: rates ? 'on (--rates)' : 'skipped: no --rates',
      stripe: payments ? 'on' : 'skipped: no credentials (STRIPE_API_KEY)',
    }),
  };
}

/** call-duration-checker in replay: the same core, Twilio only with credentials. */
export function callDurationStage(options: CheckerStageOptions): ReplayStage {
  const { calls } = options;
  const retry = options.retry ?? DEFAULT_RETRY;
  const decide = (call: CallCompleted, fact: CallFact): Outcome => {
    const verdict = checkCall(call, fact, { now: options.now });
    // No redelivery in replay: a call Twilio has not ended yet is for review.
    return verdict.kind === 'decided' ? verdict.outcome : verdict.fallback;
  };
  return {
    name: CALL_DURATION_CHECKER,
    onAccepted(e, out) {
      if (e.type !== 'call.completed') return;
      // Without Twilio a call is read only when the rule has something to say about it: the
      // main thread decodes an event a worker prepared only when a rule reads it whole.
      if (!calls && e.durationSeconds !== undefined && cleanUnchecked(e.durationSeconds)) return;
      const call = e.event;
      if (call.type !== 'call.completed') return;
      if (calls) {
        out.defer(retryTransient(() => calls.call(call.data.call_sid), retry).then((fact) => (o) => emit(o, call, decide(call, fact))));
        return;
      }
      emit(out, call, decide(call, { kind: 'unchecked' }));
    },
    checks: () => ({ twilio: calls ? 'on' : 'skipped: no credentials (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)' }),
  };
}

/**
 * crm-checker in replay: the same core, a CRM only with its credentials (DESIGN §3). The lookups
 * are deferred like Stripe's (`--max-in-flight`); replay never writes to a CRM, so repair is off.
 */
export function crmStage(options: CheckerStageOptions): ReplayStage {
  const crms = options.crms ?? {};
  const retry = options.retry ?? DEFAULT_RETRY;
  const ctx = { now: options.now, config: { ...(options.crmConfig ?? DEFAULT_CRM_CONFIG), repair: false } };
  const checks = () => ({
    hubspot: crms.hubspot ? 'on' : 'skipped: no credentials (HUBSPOT_ACCESS_TOKEN, HUBSPOT_API_BASE)',
    salesforce: crms.salesforce ? 'on' : 'skipped: no credentials (SALESFORCE_INSTANCE_URL, SALESFORCE_ACCESS_TOKEN)',
  });
  // Replay runs the check only where a CRM's credentials are configured (DESIGN §3): with none,
  // no sync is read, so none is decoded on the main thread (11 % of a generated log's events).
  if (!Object.values(crms).some((crm) => crm !== undefined)) return { name: CRM_CHECKER, checks };
  return {
    name: CRM_CHECKER,
    onAccepted(e, out) {
      if (e.type !== 'crm.synced') return;
      const sync = e.event;
      if (sync.type !== 'crm.synced') return;
      const crm = crms[sync.data.crm];
      if (crm) {
        out.defer(retryTransient(() => crm.record(sync.data.crm_record_id), retry).then((fact) => (o) => emit(o, sync, checkCrm(sync, fact, ctx))));
        return;
      }
      emit(out, sync, checkCrm(sync, { kind: 'unchecked' }, ctx));
    },
    checks,
  };
}

/** The incorrect-event stages of the replay, configured from the command line and the environment. */
export function checkerStages(options: StageOptions, retry: RetryPolicy = DEFAULT_RETRY, clock: Clock = systemClock): ReplayStage[] {
  const env = z.object({ ...StripeEnv.shape, ...TwilioEnv.shape, ...CrmEnv.shape }).safeParse(options.env);
  if (!env.success) throw new ConfigError(`invalid Stripe, Twilio or CRM settings in the environment:\n${z.prettifyError(env.error)}`);
  const clients = { clock, sleep: retry.sleep };
  const payments = stripeFromEnv(env.data, clients);
  const calls = twilioFromEnv(env.data, clients);
  const crms = crmsFromEnv(env.data, clients, { requireBase: true });
  const stage: CheckerStageOptions = {
    now: options.now,
    reviewFactor: options.reviewFactor ?? DEFAULT_REVIEW_FACTOR,
    retry,
    ...(options.rates ? { rates: new FileRates(options.rates) } : {}),
    ...(payments ? { payments } : {}),
    ...(calls ? { calls } : {}),
    crms,
    crmConfig: { ...DEFAULT_CRM_CONFIG, defaultCountry: env.data.CRM_DEFAULT_COUNTRY as CrmConfig['defaultCountry'] },
  };
  return [revenueStage(stage), callDurationStage(stage), crmStage(stage)];
}
