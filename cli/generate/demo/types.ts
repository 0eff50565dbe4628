import type { FindingFields, FindingKind } from '../../../shared/findings';
import type { RatesFile } from '../../../shared/rates/file';
import type { HourlyRow } from '../../../shared/volume/hourly';
import type { FunctionName } from '../../../shared/topology';

export const DEMO_DEFAULTS = { seed: 20260301, spanMinutes: 120 } as const;

/** A CloudEvent as the demo's producers write it; loosely typed because some are broken on purpose. */
export interface DemoEvent {
  specversion: string;
  id: string;
  source: string;
  type: string;
  time: string;
  sequence?: string;
  subject?: string;
  correlationid?: string;
  data: Record<string, unknown>;
}

/** One message as it reaches events-raw, in arrival order. */
export interface DemoMessage {
  /** The payload exactly as published: a CloudEvent in structured JSON, or a broken one. */
  readonly data: string;
  /** When it reaches events-raw on the demo's clock (epoch ms). */
  readonly arrivalMs: number;
}

/**
 * A finding an injected fault should produce: the fields it must carry (compared exactly) and,
 * for `invalid`, a piece of the reason that shows it was rejected for the right reason.
 */
export interface ExpectedFinding {
  readonly match: FindingFields & { readonly kind: FindingKind };
  readonly reasonIncludes?: string;
}

/**
 * An external truth a checker compares events with: the day's exchange rates, Stripe, Twilio,
 * the CRMs (HubSpot and Salesforce); and, for volume-monitor, the archive's past weeks (the
 * hourly series its baselines come from, `Demo.volumeHistory`). The local stack serves a stand-in for each;
 * `event-recovery replay` has rates only with `--rates`, the others only with their credentials.
 */
export type ExternalLookup = 'rates' | 'stripe' | 'twilio' | 'crm' | 'volume-history';

/** One injected fault: what was done to the stream and what the pipeline should report. */
export interface InjectedFault {
  readonly injector: string;
  readonly detectedBy: FunctionName;
  /** What `detectedBy` must be able to look up to see the fault at all; nothing when absent. */
  readonly needs?: readonly ExternalLookup[];
  readonly detail: string;
  readonly expect: readonly ExpectedFinding[];
}

/** The truth behind the stream, for the local stand-ins of Stripe, Twilio and OpenExchangeRates. */
export interface DemoWorld {
  /** Units of currency per 1 USD for every UTC date of the stream. */
  readonly rates: RatesFile;
  readonly paymentIntents: PaymentIntentTruth[];
  readonly calls: CallTruth[];
  /** The records the CRM sync wrote, as HubSpot and Salesforce hold them. */
  readonly crmRecords: CrmRecordTruth[];
}

export interface CrmRecordTruth {
  crm: 'hubspot' | 'salesforce';
  /** HubSpot's numeric contact id, or a Salesforce Lead id (00Q…). */
  id: string;
  email: string | null;
  phone: string | null;
}

/**
 * What the local stack's stand-ins answer wrongly on purpose (./upstream-faults): the stream
 * itself is untouched, so only the local stack sees these.
 */
export interface UpstreamFaults {
  /** PaymentIntent ids Stripe answers 503 for, every time. */
  readonly stripeUnavailable: readonly string[];
  /** Call SIDs Twilio answers with a body cut off mid-object. */
  readonly twilioMalformed: readonly string[];
}

export interface PaymentIntentTruth {
  id: string;
  /** Minor units, as Stripe counts them. */
  amount: number;
  /** Lower case, as Stripe writes it. */
  currency: string;
  status: 'succeeded' | 'processing' | 'requires_payment_method' | 'canceled';
  created: number;
}

export interface CallTruth {
  sid: string;
  from: string;
  to: string;
  /** Seconds, as Twilio reports them (a string in Twilio's JSON). */
  duration: number;
  status: 'completed' | 'busy' | 'no-answer' | 'failed' | 'canceled';
  startTime: string;
}

export interface Demo {
  readonly seed: number;
  /** The clock the stream was built against (epoch ms). */
  readonly now: number;
  readonly startMs: number;
  readonly endMs: number;
  readonly messages: readonly DemoMessage[];
  /** The faults in the stream: what `--write-demo` and `event-recovery generate` write. */
  readonly faults: readonly InjectedFault[];
  readonly world: DemoWorld;
  /** The stand-ins' faults, and what they should make the pipeline find (the local stack only). */
  readonly upstream: UpstreamFaults;
  readonly upstreamFaults: readonly InjectedFault[];
  /**
   * The archive's past weeks as hourly series (./history): the local stack seeds volume-monitor's
   * store with them; replay has no past, so its volume fault is not checked there.
   */
  readonly volumeHistory: readonly HourlyRow[];
}

