import { hash } from 'node:crypto';
import type { BusinessEvent } from './envelope';
import { parseRfc3339 } from './time';

/**
 * The business key of DESIGN §2: two accepted events of one type with the same key are
 * duplicates. `undefined` where the type has none (or, for `lead.created`, no `card_id`).
 */
export function businessKey(event: BusinessEvent): string | undefined {
  switch (event.type) {
    case 'card.scanned':
      return join(event.type, event.data.card_id);
    case 'lead.created':
      return event.data.card_id === undefined ? undefined : join(event.type, event.data.card_id);
    case 'crm.synced':
      return join(event.type, event.data.lead_id, event.data.crm);
    case 'lead.tagged':
      return undefined;
    case 'followup.sent':
      return join(event.type, event.data.lead_id, event.data.channel, event.data.template);
    case 'call.completed':
      return join(event.type, event.data.call_sid);
    case 'sale.recorded':
      return join(event.type, event.data.order_id);
    case 'discount.issued':
      return join(event.type, event.data.user_id, event.data.program);
    default:
      return assertNever(event);
  }
}

function join(...parts: string[]): string {
  // JSON quoting keeps ("a|b","c") and ("a","b|c") apart.
  return JSON.stringify(parts);
}

export function assertNever(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`);
}

/**
 * JSON with object keys sorted at every depth: equal data, equal text. `JSON.stringify` with an
 * array replacer emits, at every depth, the listed keys in the listed order; listing every key
 * of the value, sorted, makes the native serializer do the canonical form (a replay hot path).
 */
export function canonicalJson(value: unknown): string {
  const keys: string[] = [];
  collectKeys(value, keys);
  keys.sort();
  return JSON.stringify(value, keys) ?? 'null';
}

function collectKeys(value: unknown, into: string[]): void {
  if (value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    for (const item of value) collectKeys(item, into);
    return;
  }
  for (const key in value as Record<string, unknown>) {
    into.push(key);
    collectKeys((value as Record<string, unknown>)[key], into);
  }
}

/**
 * The text the content key of rule (c) digests: `source`, `type`, the instant of `time` (so two
 * spellings of one instant match) and the canonical `data`. The `id` is deliberately left out.
 */
export function contentText(event: BusinessEvent, canonicalTime?: string): string {
  const instant = canonicalTime ?? parseRfc3339(event.time)?.canonical ?? event.time;
  return `${JSON.stringify([event.source, event.type, instant])}\n${canonicalJson(event.data)}`;
}

/**
 * The content key of rule (c): a digest of `contentText`.
 * SHA-1 is plenty against accidental collisions, and cheaper on the replay hot path.
 */
export function contentKey(event: BusinessEvent, canonicalTime?: string): string {
  return hash('sha1', contentText(event, canonicalTime), 'base64url');
}
