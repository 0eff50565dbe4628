import { isEventType } from './events/catalog';
import { PERSONAL_DATA_PATHS } from './events/personal';

/**
 * Masks personal data before it reaches a log line or a report, two ways:
 *
 * - **by path**: in an event (an object with a catalog `type` and a `data` object), the fields
 *   the catalog marks as personal (shared/events/personal.ts) are masked whatever they hold;
 * - **by shape**, a second net over every string: email addresses keep their first character and
 *   domain (`j***@example.com`, any script), phone numbers their last two digits
 *   (`+*********34`): the international form (`+` and 7-15 digits, separators allowed), the North
 *   American `(415) 555-0100` / `415-555-0100` forms, national forms with a trunk 0
 *   (`020 7946 0958`, `06 12 34 56 78`) and bare international digits (`14155550100`).
 *
 * Timestamps, dates, epoch numbers and digits inside identifiers (`order-1234567890`) are left alone.
 */
const EMAIL = /([\p{L}\p{N}._%+-])[\p{L}\p{N}._%+-]*@((?:[\p{L}\p{N}-]+\.)+\p{L}[\p{L}\p{N}-]*)/gu;
const PHONE = new RegExp(
  [
    String.raw`\+\d(?:[\s().-]?\d){6,14}`, // +44 20 7946 0958, +14155550100
    String.raw`\(?\d{3}\)?[\s.-]?\d{3}[\s.-]\d{4}`, // (415) 555-0100, 415-555-0100
    String.raw`0\d{1,4}(?:[\s.-]\d{2,4}){2,4}`, // 020 7946 0958, 06 12 34 56 78
    String.raw`1\d{10}|[2-9]\d{10,13}`, // 14155550100, 447700900123 (not 10-digit epoch seconds, not 13-digit epoch ms)
  ]
    .map((p) => `(?:${p})`)
    .join('|')
    .replace(/^/, String.raw`(?<![\w+.:/-])(?:`)
    .concat(String.raw`)(?![\w.:/-])`),
  'g',
);

function maskPhone(m: string): string {
  const digits = m.replace(/\D/g, '');
  // A national number needs 9 digits or more: shorter groups of digits are dates or counts.
  if (!m.startsWith('+') && digits.length < 9) return m;
  return `${m.startsWith('+') ? '+' : ''}${'*'.repeat(digits.length - 2)}${digits.slice(-2)}`;
}

export function maskText(text: string): string {
  return text.replace(EMAIL, (_m, first: string, domain: string) => `${first}***@${domain}`).replace(PHONE, maskPhone);
}

/** A personal value found by its path: masked whatever its shape (a name keeps its first letter). */
export function maskPersonal(value: unknown): unknown {
  if (typeof value === 'string') {
    const shaped = maskText(value);
    if (shaped !== value) return shaped;
    if (/\d/.test(value)) return value.replace(/\d(?=(?:\D*\d){2})/g, '*');
    return value.length <= 1 ? '*' : `${value[0]}***`;
  }
  if (Array.isArray(value)) return value.map(maskPersonal);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskPersonal(v)]));
  }
  return value;
}

function maskPath(data: Record<string, unknown>, path: readonly string[]): Record<string, unknown> {
  const [head, ...rest] = path;
  if (head === undefined || !Object.hasOwn(data, head)) return data;
  const value = data[head];
  if (rest.length === 0) return { ...data, [head]: maskPersonal(value) };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return data;
  return { ...data, [head]: maskPath(value as Record<string, unknown>, rest) };
}

/** An event with its personal `data` fields masked by path (the rest as it was). */
export function maskEventData(type: string, data: Record<string, unknown>): Record<string, unknown> {
  if (!isEventType(type)) return data;
  return PERSONAL_DATA_PATHS[type].reduce(maskPath, data);
}

/** Masks a JSON-like value: events by path, then every string by shape. */
export function maskValue(value: unknown): unknown {
  if (typeof value === 'string') return maskText(value);
  if (Array.isArray(value)) return value.map(maskValue);
  if (value !== null && typeof value === 'object') {
    let obj = value as Record<string, unknown>;
    if (typeof obj.type === 'string' && obj.data !== null && typeof obj.data === 'object' && !Array.isArray(obj.data)) {
      obj = { ...obj, data: maskEventData(obj.type, obj.data as Record<string, unknown>) };
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(obj)) out[k] = maskValue(v);
    return out;
  }
  return value;
}
