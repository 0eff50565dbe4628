import { z } from 'zod';
import { BusinessEvent } from './events/envelope';
import type { Finding, FindingAction, FindingKind } from './findings';
import type { Publisher } from './ports';
import { derivedId, eventAttributes, publishFinding } from './publish';
import { TOPICS } from './topology';

/**
 * What one rule decided about one event: its findings (possibly none) and at most one
 * correction event. Cores return it, the ledger keeps it, the shell publishes it.
 */
export interface Outcome {
  readonly findings: readonly Finding[];
  readonly correction?: BusinessEvent;
}

const KINDS = [
  'invalid',
  'duplicate',
  'gap',
  'late',
  'chain_broken',
  'amount_mismatch',
  'fx_mismatch',
  'payment_mismatch',
  'call_duration_mismatch',
  'volume_anomaly',
] as const satisfies readonly FindingKind[];
const ACTIONS = ['dropped', 'corrected', 'review', 'dead_lettered', 'reported'] as const satisfies readonly FindingAction[];
// Compile-time check that the lists name every kind and action of shared/findings.ts.
type Missing<All, Listed> = Exclude<All, Listed> extends never ? true : never;
const _allKinds: Missing<FindingKind, (typeof KINDS)[number]> = true;
const _allActions: Missing<FindingAction, (typeof ACTIONS)[number]> = true;
void _allKinds;
void _allActions;

/** A finding as stored (DESIGN §4), for reading a recorded outcome back. */
export const FindingRecord = z.object({
  kind: z.enum(KINDS),
  action: z.enum(ACTIONS),
  event_id: z.string().optional(),
  type: z.string().optional(),
  source: z.string().optional(),
  line: z.int().optional(),
  duplicate_of: z.string().optional(),
  basis: z.enum(['id', 'business_key', 'content']).optional(),
  from_sequence: z.int().optional(),
  to_sequence: z.int().optional(),
  expected_type: z.string().optional(),
  field: z.string().optional(),
  expected: z.unknown().optional(),
  actual: z.unknown().optional(),
  reason: z.string().optional(),
});

export const OutcomeRecord = z.object({
  findings: z.array(FindingRecord),
  correction: BusinessEvent.optional(),
});

/** Parses a stored outcome; `undefined` (with the reason) when it is not one. */
export function parseOutcome(json: string): { ok: true; outcome: Outcome } | { ok: false; reason: string } {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    return { ok: false, reason: `not JSON: ${(err as Error).message}` };
  }
  const parsed = OutcomeRecord.safeParse(value);
  if (!parsed.success) return { ok: false, reason: z.prettifyError(parsed.error) };
  const outcome: Outcome = parsed.data.correction
    ? { findings: parsed.data.findings, correction: parsed.data.correction }
    : { findings: parsed.data.findings };
  return { ok: true, outcome };
}

/** True when the outcome has something to publish. */
export function hasEffects(outcome: Outcome): boolean {
  return outcome.findings.length > 0 || outcome.correction !== undefined;
}

/** The id of the `index`-th finding of `rule` about one event: the same on every redelivery. */
export function findingId(rule: string, finding: Finding, index: number): string {
  return derivedId(rule, finding.event_id ?? '', finding.kind, finding.field ?? '', String(index));
}

/**
 * Publishes an outcome: the correction to events-corrected (attributes repeat `type`, `source`,
 * `id` and name the corrected event), each finding to findings under its derived id.
 */
export async function publishOutcome(publisher: Publisher, rule: string, outcome: Outcome): Promise<void> {
  const sends: Array<Promise<string>> = [];
  const c = outcome.correction;
  if (c) {
    sends.push(
      publisher.publish(TOPICS.corrected, {
        data: Buffer.from(JSON.stringify(c)),
        attributes: eventAttributes(c, c.correctionof === undefined ? {} : { correctionof: c.correctionof }),
      }),
    );
  }
  outcome.findings.forEach((f, i) => sends.push(publishFinding(publisher, f, findingId(rule, f, i))));
  await Promise.all(sends);
}
