import type { BusinessEvent } from './envelope';
import { decodeUtf8 } from './utf8';
import { validateJson } from './validate';

export type Decoded =
  | { readonly ok: true; readonly event: BusinessEvent; readonly timeMs: number; readonly canonicalTime: string }
  | { readonly ok: false; readonly reason: string };

/**
 * The checks of validation without its clock: an event is judged against the "not in the
 * future" rule once, when it arrives; downstream it may be read at any later time.
 */
const DOWNSTREAM = { now: Number.POSITIVE_INFINITY, maxFutureMs: 0 } as const;

/**
 * Decodes an event that already passed validation (the data of an events-unique or
 * events-duplicates message). Downstream functions still parse rather than cast, with the same
 * rules as validation (one place: shared/events/validate.ts): a message published around the
 * deduplicator is reported, not trusted.
 */
export function decodeEvent(data: Buffer | undefined): Decoded {
  if (!data) return { ok: false, reason: 'message data is not base64' };
  const text = decodeUtf8(data);
  if (!text.ok) return { ok: false, reason: `message data ${text.reason}` };
  const result = validateJson(text.text, DOWNSTREAM);
  return result.ok ? result : { ok: false, reason: result.reason };
}
