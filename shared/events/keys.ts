import { hash } from 'node:crypto';
import type { BusinessEvent } from './envelope';
import { parseRfc3339 } from './time';

/**
 * The business key of DESIGN §2: two accepted events of one type with the same key are
 * duplicates. `undefined` where the type has none (or, for `lead.created`, no `card_id`).
 */
export function businessKey(event: BusinessEvent): string | undefined {
  const parts = businessKeyParts(event);
  // JSON quoting keeps ("a|b","c") and ("a","b|c") apart.
  return parts === undefined ? undefined : JSON.stringify(parts);
}

/**
 * A key value as keys compare it: in Unicode NFC, so that `café` typed as one code point or as
 * `e` + a combining accent (NFD, as some keyboards and macOS file names produce) is one key.
 * Nothing else is folded: ids are opaque and case-sensitive (see the README, "Business keys").
 * ASCII, the common case, is NFC already and is returned as it is, without a copy.
 */
export function keyText(value: string): string {
  return NON_ASCII.test(value) ? value.normalize('NFC') : value;
}

const NON_ASCII = /[\u0080-\uffff]/;

/** What the business key is made of, the type first (replay digests the parts without joining them). */
export function businessKeyParts(event: BusinessEvent): readonly string[] | undefined {
  const parts = rawKeyParts(event);
  if (parts === undefined) return undefined;
  for (let i = 1; i < parts.length; i++) {
    const text = keyText(parts[i]!);
    if (text !== parts[i]) return parts.map(keyText);
  }
  return parts;
}

function rawKeyParts(event: BusinessEvent): string[] | undefined {
  switch (event.type) {
    case 'card.scanned':
      return [event.type, event.data.card_id];
    case 'lead.created':
      return event.data.card_id === undefined ? undefined : [event.type, event.data.card_id];
    case 'crm.synced':
      return [event.type, event.data.lead_id, event.data.crm];
    case 'lead.tagged':
      return undefined;
    case 'followup.sent':
      return [event.type, event.data.lead_id, event.data.channel, event.data.template];
    case 'call.completed':
      return [event.type, event.data.call_sid];
    case 'sale.recorded':
      return [event.type, event.data.order_id];
    case 'discount.issued':
      return [event.type, event.data.user_id, event.data.program];
    default:
      return assertNever(event);
  }
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
 * The text the content key of rule (c) digests: `contentHead`, then the canonical `data`.
 */
export function contentText(event: BusinessEvent, canonicalTime?: string): string {
  return `${JSON.stringify(contentHead(event, canonicalTime))}\n${canonicalJson(event.data)}`;
}

/**
 * What the content key holds besides `data`: `source`, `type` and the instant of `time` (so two
 * spellings of one instant match). The `id` is deliberately left out.
 */
export function contentHead(event: BusinessEvent, canonicalTime?: string): readonly [string, string, string] {
  return [event.source, event.type, canonicalTime ?? parseRfc3339(event.time)?.canonical ?? event.time];
}

/**
 * The content key of rule (c): a digest of `contentText`.
 * SHA-1 is plenty against accidental collisions, and cheaper on the replay hot path.
 */
export function contentKey(event: BusinessEvent, canonicalTime?: string): string {
  return hash('sha1', contentText(event, canonicalTime), 'base64url');
}
