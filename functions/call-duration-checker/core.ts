import { buildCorrection } from '../../shared/corrections';
import type { CallCompleted } from '../../shared/events/envelope';
import { assertNever } from '../../shared/events/keys';
import type { MismatchFinding } from '../../shared/findings';
import type { Outcome } from '../../shared/outcome';
import type { CallLookupResult } from '../../shared/ports';

export const NAME = 'call-duration-checker';

export interface CallDurationContext {
  readonly now: number;
}

/** What Twilio says about the call, or that it was not asked (no credentials). */
export type CallFact = CallLookupResult | { readonly kind: 'unchecked' };

/** Twilio statuses of a call that has not ended yet: its duration is still to come. */
const NOT_ENDED = new Set(['queued', 'ringing', 'in-progress']);

export type CallVerdict =
  | { readonly kind: 'decided'; readonly outcome: Outcome }
  /**
   * Twilio has not ended the call yet (its record can lag the producer): ask again later. Where
   * nobody can ask again (replay), `fallback` is the decision.
   */
  | { readonly kind: 'not_ended'; readonly reason: string; readonly fallback: Outcome };

/**
 * Whether a call of `durationSeconds` comes out clean where Twilio is not asked: only the 0 s
 * rule applies then. Replay asks this of the duration a worker sent, before decoding the event.
 */
export function cleanUnchecked(durationSeconds: number): boolean {
  return durationSeconds !== 0;
}

/**
 * The call-duration rule of DESIGN §3: `duration_seconds` must equal Twilio's `duration`; a
 * call Twilio does not know, or a completed call of 0 s, is for review. A wrong duration is
 * corrected to Twilio's. Without Twilio only the 0 s rule can be applied.
 */
export function checkCall(call: CallCompleted, fact: CallFact, _ctx: CallDurationContext): CallVerdict {
  const recorded = call.data.duration_seconds;
  const review = (reason: string, expected?: number): CallVerdict => decided({ findings: [finding(call, 'review', expected, reason)] });
  switch (fact.kind) {
    case 'unchecked':
      return cleanUnchecked(recorded) ? decided({ findings: [] }) : review('a completed call of 0 s (not checked with Twilio)');
    case 'not_found':
      return review(fact.reason);
    case 'found': {
      const { status, durationSeconds } = fact.call;
      if (NOT_ENDED.has(status)) {
        const reason = `Twilio reports the call as ${status}`;
        return { kind: 'not_ended', reason, fallback: { findings: [finding(call, 'review', undefined, reason)] } };
      }
      if (status !== 'completed') return review(`Twilio reports the call as ${status}, not completed`);
      if (durationSeconds === undefined) return review('Twilio reports no duration for the completed call');
      if (durationSeconds === 0) return review('Twilio reports a completed call of 0 s', 0);
      if (durationSeconds === recorded) return decided({ findings: [] });
      return decided({
        findings: [finding(call, 'corrected', durationSeconds)],
        correction: buildCorrection(call, NAME, { ...call.data, duration_seconds: durationSeconds }),
      });
    }
    default:
      return assertNever(fact);
  }
}

function decided(outcome: Outcome): CallVerdict {
  return { kind: 'decided', outcome };
}

function finding(call: CallCompleted, action: 'corrected' | 'review', expected: number | undefined, reason?: string): MismatchFinding {
  const f: MismatchFinding = { kind: 'call_duration_mismatch', action, event_id: call.id, type: call.type, source: call.source, field: 'duration_seconds' };
  if (expected !== undefined) f.expected = expected;
  f.actual = call.data.duration_seconds;
  if (reason !== undefined) f.reason = reason;
  return f;
}
