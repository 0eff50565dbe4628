import { BusinessEvent } from './envelope';
import { parseRfc3339 } from './time';
import { decodeUtf8 } from './utf8';
import { describe, preSchema } from './validate';

export type Decoded =
  | { readonly ok: true; readonly event: BusinessEvent; readonly timeMs: number }
  | { readonly ok: false; readonly reason: string };

/**
 * Decodes an event that the validator already passed (the data of an events-valid or
 * events-unique message). Downstream functions still parse rather than cast: a message
 * published around the validator is reported, not trusted.
 */
export function decodeEvent(data: Buffer | undefined): Decoded {
  if (!data) return { ok: false, reason: 'message data is not base64' };
  const text = decodeUtf8(data);
  if (!text.ok) return { ok: false, reason: `message data ${text.reason}` };
  let value: unknown;
  try {
    value = JSON.parse(text.text);
  } catch {
    return { ok: false, reason: 'message data is not JSON' };
  }
  const checked = preSchema(value);
  if (!checked.ok) return checked;
  const result = BusinessEvent.safeParse(checked.value);
  if (!result.success) {
    return { ok: false, reason: describe(result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }))) };
  }
  const instant = parseRfc3339(result.data.time);
  if (!instant) return { ok: false, reason: 'time: must be a valid RFC 3339 date-time (no such date or time)' };
  return { ok: true, event: result.data, timeMs: instant.ms };
}
