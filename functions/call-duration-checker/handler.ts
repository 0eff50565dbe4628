import { checkerHandler, type CheckerShellDeps } from '../../shared/checker';
import { TransientError } from '../../shared/errors';
import type { CallLookup } from '../../shared/ports';
import { checkCall, NAME, type CallFact } from './core';

export interface CallDurationCheckerDeps extends CheckerShellDeps {
  /** Twilio; without it only the 0 s rule applies. */
  readonly calls?: CallLookup;
}

/** call-duration-checker on events-unique: call.completed → findings and events-corrected. */
export function callDurationCheckerHandler(deps: CallDurationCheckerDeps) {
  return checkerHandler(NAME, 'call.completed', deps, async (call, _timeMs, now) => {
    const fact: CallFact = deps.calls ? await deps.calls.call(call.data.call_sid) : { kind: 'unchecked' };
    const verdict = checkCall(call, fact, { now });
    switch (verdict.kind) {
      case 'decided':
        return verdict.outcome;
      case 'not_ended':
        // Twilio's record lags the producer: redeliver with backoff; dead-letter if it never ends.
        throw new TransientError(verdict.reason, 'CALL_NOT_ENDED', { eventId: call.id });
      default: {
        const never: never = verdict;
        throw new Error(`unhandled verdict ${JSON.stringify(never)}`);
      }
    }
  });
}
