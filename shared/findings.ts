import type { EventIdentity } from './events/validate';

export type FindingKind =
  | 'invalid'
  | 'duplicate'
  | 'gap'
  | 'late'
  | 'chain_broken'
  | 'amount_mismatch'
  | 'fx_mismatch'
  | 'payment_mismatch'
  | 'call_duration_mismatch'
  | 'volume_anomaly';

export type FindingAction = 'dropped' | 'corrected' | 'review' | 'dead_lettered' | 'reported';

export type DuplicateBasis = 'id' | 'business_key' | 'content';

/** One detection (DESIGN §4). Fields beyond `kind` and `action` appear only where the table says. */
export interface Finding {
  kind: FindingKind;
  action: FindingAction;
  event_id?: string;
  type?: string;
  source?: string;
  line?: number;
  duplicate_of?: string;
  basis?: DuplicateBasis;
  from_sequence?: number;
  to_sequence?: number;
  expected_type?: string;
  field?: string;
  expected?: unknown;
  actual?: unknown;
  reason?: string;
}

/** The `event_id`, `type`, `source` of a finding about one event, leaving out what could not be read. */
export function about(identity: EventIdentity): Pick<Finding, 'event_id' | 'type' | 'source'> {
  const out: Pick<Finding, 'event_id' | 'type' | 'source'> = {};
  if (identity.id !== undefined) out.event_id = identity.id;
  if (identity.type !== undefined) out.type = identity.type;
  if (identity.source !== undefined) out.source = identity.source;
  return out;
}

/** Pub/Sub attributes for a published finding, for subscription filters and BigQuery columns. */
export function findingAttributes(finding: Finding, findingId: string): Record<string, string> {
  const attributes: Record<string, string> = { kind: finding.kind, action: finding.action, finding_id: findingId };
  if (finding.type) attributes.type = finding.type;
  if (finding.source) attributes.source = finding.source;
  if (finding.event_id) attributes.event_id = finding.event_id;
  return attributes;
}
