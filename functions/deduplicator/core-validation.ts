import type { BusinessEvent } from '../../shared/events/envelope';
import { validateJson, type EventIdentity, type ValidationError } from '../../shared/events/validate';
import { decodeUtf8 } from '../../shared/events/utf8';
import { invalidFinding, type Finding } from '../../shared/findings';

export interface ValidationConfig {
  /** How far ahead of the checking clock an event's `time` may be (DESIGN §2: 5 minutes). */
  readonly maxFutureMs: number;
}

export interface ValidationContext {
  readonly now: number;
  readonly config: ValidationConfig;
}

export type ValidationDecision =
  | { readonly kind: 'valid'; readonly event: BusinessEvent; readonly timeMs: number; readonly canonicalTime: string; readonly decoded: unknown }
  | {
      readonly kind: 'invalid';
      readonly errors: ValidationError[];
      readonly identity: EventIdentity;
      readonly finding: Finding;
    };

/**
 * Decides what one payload is. `payload` is the decoded message data, or `undefined` when the
 * transport could not decode it (not base64): that too is an invalid event, never a crash.
 */
export function validate(input: Buffer | string | undefined, ctx: ValidationContext, nonStringAttributes: readonly string[] = []): ValidationDecision {
  const decision = validatePayload(input, ctx);
  if (nonStringAttributes.length === 0) return decision;
  // Pub/Sub's attributes are strings: a push with others was not sent by Pub/Sub, and the event
  // cannot be forwarded with them (the publish would fail on every redelivery).
  const names = [...nonStringAttributes].sort().join(', ');
  const message = `message attribute${nonStringAttributes.length === 1 ? '' : 's'} ${names} ${nonStringAttributes.length === 1 ? 'is' : 'are'} not a string (Pub/Sub sends only strings)`;
  const identity = decision.kind === 'valid' ? { id: decision.event.id, type: decision.event.type, source: decision.event.source } : decision.identity;
  const errors = [{ path: 'attributes', message }, ...(decision.kind === 'invalid' ? decision.errors : [])];
  return { kind: 'invalid', errors, identity, finding: invalidFinding(identity, decision.kind === 'invalid' ? `${message}; ${decision.finding.reason ?? ''}` : message) };
}

function validatePayload(input: Buffer | string | undefined, ctx: ValidationContext): ValidationDecision {
  if (input === undefined) return undecodable('message data is not base64');
  let payload: string;
  if (typeof input === 'string') payload = input;
  else {
    const text = decodeUtf8(input);
    if (!text.ok) return undecodable(`message data ${text.reason}`);
    payload = text.text;
  }
  // An attributes-only message: Pub/Sub allows one, the event contract does not.
  if (payload.length === 0) return undecodable('message has no data (expected a CloudEvent in structured JSON mode)');
  const result = validateJson(payload, { now: ctx.now, maxFutureMs: ctx.config.maxFutureMs });
  if (result.ok) return { kind: 'valid', event: result.event, timeMs: result.timeMs, canonicalTime: result.canonicalTime, decoded: result.decoded };
  return {
    kind: 'invalid',
    errors: result.errors,
    identity: result.identity,
    finding: invalidFinding(result.identity, result.reason),
  };
}


function undecodable(message: string): ValidationDecision {
  return { kind: 'invalid', errors: [{ path: '', message }], identity: {}, finding: invalidFinding({}, message) };
}
