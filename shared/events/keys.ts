import { createHash } from 'node:crypto';
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

/** JSON with object keys sorted at every depth: equal data, equal text. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

/**
 * The content key of rule (c): a digest of `source`, `type`, the instant of `time` (so two
 * spellings of one instant match) and the canonical `data`. The `id` is deliberately left out.
 */
export function contentKey(event: BusinessEvent): string {
  const instant = parseRfc3339(event.time)?.canonical ?? event.time;
  return createHash('sha256')
    .update(JSON.stringify([event.source, event.type, instant]))
    .update('\n')
    .update(canonicalJson(event.data))
    .digest('base64url');
}
