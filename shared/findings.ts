import { z } from 'zod';
import type { EventIdentity } from './events/validate';

/**
 * The one schema of a finding (DESIGN §4): a discriminated union on `kind`, each kind with the
 * fields the table gives it. Cores build findings of these types, the replay writes them, the
 * functions publish them, the ledger and triage parse them back; a field that is not here does
 * not exist, so nothing is silently stripped on the way.
 */

export const FindingAction = z.enum(['dropped', 'corrected', 'review', 'dead_lettered', 'reported']);
export type FindingAction = z.infer<typeof FindingAction>;

export const DuplicateBasis = z.enum(['id', 'business_key', 'content']);
export type DuplicateBasis = z.infer<typeof DuplicateBasis>;

/**
 * A sequence number in a finding: an integer; numbers beyond 2^53 are tracked exactly and
 * written as decimal strings so that no digit is lost (DESIGN §4 says integers).
 */
export const SequenceNumber = z.union([z.int().nonnegative(), z.string().regex(/^[0-9]+$/)]);
export type SequenceNumber = z.infer<typeof SequenceNumber>;

/** The fields every finding may carry: what it is about, where it came from, and why. */
const base = {
  action: FindingAction,
  event_id: z.string().optional(),
  type: z.string().optional(),
  source: z.string().optional(),
  /** In replay: the 1-based input line the finding is about. */
  line: z.int().positive().optional(),
};
/**
 * A sentence for a person: why it is invalid, why it is held for review. Last in every shape, as
 * the cores write it, so a finding read back from the ledger keeps its bytes.
 */
const why = { reason: z.string().optional() };

export const InvalidFinding = z.object({ kind: z.literal('invalid'), ...base, ...why });
export const DuplicateFinding = z.object({ kind: z.literal('duplicate'), ...base, duplicate_of: z.string(), basis: DuplicateBasis, ...why });
export const GapFinding = z.object({ kind: z.literal('gap'), ...base, from_sequence: SequenceNumber, to_sequence: SequenceNumber, ...why });
export const LateFinding = z.object({
  kind: z.literal('late'),
  ...base,
  /** What the late event closes: a reported sequence gap, or a chain reported broken. */
  closes: z.enum(['gap', 'chain_broken']).optional(),
  /** For a chain: the `id` of the upstream event that was reported broken. */
  upstream_id: z.string().optional(),
  ...why,
});
/**
 * A sequence number further than the configured bound from every number seen from its source
 * (`from_sequence`, the nearest, to `to_sequence`, the number): a reset of the producer's
 * counter or a bad number, for a person to tell apart; not counted as missing events.
 */
export const SequenceJumpFinding = z.object({ kind: z.literal('sequence_jump'), ...base, from_sequence: SequenceNumber, to_sequence: SequenceNumber, ...why });
export const ChainBrokenFinding = z.object({ kind: z.literal('chain_broken'), ...base, expected_type: z.string(), ...why });

/** What a checker compared: `field` (`amount`, `amount_usd`, `duration_seconds`, …), and the two values. */
const mismatch = { ...base, field: z.string(), expected: z.unknown().optional(), actual: z.unknown().optional(), ...why };
export const MismatchKind = z.enum(['amount_mismatch', 'fx_mismatch', 'payment_mismatch', 'call_duration_mismatch', 'crm_mismatch']);
export type MismatchKind = z.infer<typeof MismatchKind>;
export const AmountMismatchFinding = z.object({ kind: z.literal('amount_mismatch'), ...mismatch });
export const FxMismatchFinding = z.object({ kind: z.literal('fx_mismatch'), ...mismatch });
export const PaymentMismatchFinding = z.object({ kind: z.literal('payment_mismatch'), ...mismatch });
export const CallDurationMismatchFinding = z.object({ kind: z.literal('call_duration_mismatch'), ...mismatch });
/**
 * A CRM record that disagrees with the `crm.synced` event (DESIGN §3): `field` is `record` (no
 * such record), `email_phone_swapped`, `email` or `phone`; `expected` is the event's value,
 * `actual` the CRM's, both masked (personal data).
 */
export const CrmMismatchFinding = z.object({ kind: z.literal('crm_mismatch'), ...mismatch });
export type MismatchFinding = z.infer<
  typeof AmountMismatchFinding | typeof FxMismatchFinding | typeof PaymentMismatchFinding | typeof CallDurationMismatchFinding | typeof CrmMismatchFinding
>;

export const VolumeAnomalyFinding = z.object({
  kind: z.literal('volume_anomaly'),
  ...base,
  /** An event `type`, or `scan_to_crm`. */
  series: z.string(),
  /** The hour's start, UTC, RFC 3339. */
  hour: z.string(),
  expected: z.number(),
  actual: z.number(),
  lower_bound: z.number(),
  upper_bound: z.number(),
  probability: z.number().optional(),
  ...why,
});

/**
 * A message that exhausted its delivery attempts (DESIGN §5), reported by dlq-triage with action
 * `dead_lettered`: the subscription that failed it, its triage class, and the triage record's id.
 */
export const DeadLetterFinding = z.object({
  kind: z.literal('dead_letter'),
  ...base,
  subscription: z.string(),
  class: z.enum(['transient', 'poison', 'invalid']),
  delivery_count: z.int().nonnegative().optional(),
  triage_id: z.string(),
  ...why,
});

export const Finding = z.discriminatedUnion('kind', [
  InvalidFinding,
  DuplicateFinding,
  GapFinding,
  LateFinding,
  SequenceJumpFinding,
  ChainBrokenFinding,
  AmountMismatchFinding,
  FxMismatchFinding,
  PaymentMismatchFinding,
  CallDurationMismatchFinding,
  CrmMismatchFinding,
  VolumeAnomalyFinding,
  DeadLetterFinding,
]);
export type Finding = z.infer<typeof Finding>;

export type FindingKind = Finding['kind'];

type KeysOfUnion<T> = T extends unknown ? keyof T : never;
type FieldOf<T, K extends PropertyKey> = T extends unknown ? (K extends keyof T ? T[K] : never) : never;
/** Any field of any kind, each optional: what a partial match against findings may name. */
export type FindingFields = { readonly [K in KeysOfUnion<Finding>]?: FieldOf<Finding, K> };
export const FINDING_KINDS = Finding.options.map((o) => o.shape.kind.value) as readonly FindingKind[];

/** The `event_id`, `type`, `source` of a finding about one event, leaving out what could not be read. */
export function about(identity: EventIdentity): Pick<Finding, 'event_id' | 'type' | 'source'> {
  const out: Pick<Finding, 'event_id' | 'type' | 'source'> = {};
  if (identity.id !== undefined) out.event_id = identity.id;
  if (identity.type !== undefined) out.type = identity.type;
  if (identity.source !== undefined) out.source = identity.source;
  return out;
}

/** An event that could not be accepted (DESIGN §2): dropped, with the reason. */
export function invalidFinding(identity: EventIdentity, reason: string): z.infer<typeof InvalidFinding> {
  return { kind: 'invalid', action: 'dropped', ...about(identity), reason };
}

/** Pub/Sub attributes for a published finding, for subscription filters and BigQuery columns. */
export function findingAttributes(finding: Finding, findingId: string): Record<string, string> {
  const attributes: Record<string, string> = { kind: finding.kind, action: finding.action, finding_id: findingId };
  if (finding.type) attributes.type = finding.type;
  if (finding.source) attributes.source = finding.source;
  if (finding.event_id) attributes.event_id = finding.event_id;
  return attributes;
}
