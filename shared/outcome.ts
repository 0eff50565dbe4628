import { z } from 'zod';
import { BusinessEvent } from './events/envelope';
import { Finding } from './findings';
import { derivedId } from './ids';

/**
 * What one rule decided about one event: its findings (possibly none) and at most one
 * correction event. Cores return it, the ledger keeps it, the shell publishes it.
 */
export const Outcome = z.object({
  findings: z.array(Finding).readonly(),
  correction: BusinessEvent.optional(),
});
export type Outcome = z.infer<typeof Outcome>;

/** Parses a stored outcome; `ok: false` (with the reason) when it is not one. */
export function parseOutcome(json: string): { ok: true; outcome: Outcome } | { ok: false; reason: string } {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    return { ok: false, reason: `not JSON: ${(err as Error).message}` };
  }
  const parsed = Outcome.safeParse(value);
  if (!parsed.success) return { ok: false, reason: z.prettifyError(parsed.error) };
  return { ok: true, outcome: parsed.data };
}

/** True when the outcome has something to publish. */
export function hasEffects(outcome: Outcome): boolean {
  return outcome.findings.length > 0 || outcome.correction !== undefined;
}

/** The id of the `index`-th finding of `rule` about one event: the same on every redelivery. */
export function findingId(rule: string, finding: Finding, index: number): string {
  return derivedId(rule, finding.event_id ?? '', finding.kind, 'field' in finding ? finding.field : '', String(index));
}
