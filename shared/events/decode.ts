import type { BusinessEvent } from './envelope';
import { validateJson } from './validate';

export type Decoded =
  | { readonly ok: true; readonly event: BusinessEvent; readonly timeMs: number; readonly canonicalTime: string }
  | { readonly ok: false; readonly reason: string };

/**
 * The checks of the validator without its clock: an event is judged against the "not in the
 * future" rule once, when it arrives; downstream it may be read at any later time.
 */
const DOWNSTREAM = { now: Number.POSITIVE_INFINITY, maxFutureMs: 0 } as const;

/**
 * Decodes an event that the validator already passed (the data of an events-valid or
 * events-unique message). Downstream functions still parse rather than cast, with the same rules
 * as the validator (one place: shared/events/validate.ts): a message published around the
 * validator is reported, not trusted.
 */
export function decodeEvent(data: Buffer | undefined): Decoded {
  if (!data) return { ok: false, reason: 'message data is not base64' };
  const result = validateJson(data.toString('utf8'), DOWNSTREAM);
  return result.ok ? result : { ok: false, reason: result.reason };
}
