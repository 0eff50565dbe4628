/**
 * Masks personal data before it reaches a log line: email addresses keep their first character
 * and domain (`j***@example.com`), phone numbers their last two digits (`+*********34`).
 * Phone numbers are the international form (`+` and 7-15 digits, separators allowed) or the
 * North American `(415) 555-0100` / `415-555-0100` / `415.555.0100` forms; timestamps, dates
 * and digits inside identifiers (`order-1234567890`) are left alone.
 */
const EMAIL = /([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})/g;
const PHONE = /(?<![\w+-])(?:\+\d(?:[\s().-]?\d){6,14}|\(?\d{3}\)?[\s.-]?\d{3}[\s.-]\d{4})(?![\w-])/g;

export function maskText(text: string): string {
  return text
    .replace(EMAIL, (_m, first: string, domain: string) => `${first}***@${domain}`)
    .replace(PHONE, (m) => {
      const digits = m.replace(/\D/g, '');
      return `${m.startsWith('+') ? '+' : ''}${'*'.repeat(digits.length - 2)}${digits.slice(-2)}`;
    });
}

/** Masks every string inside a JSON-like value. */
export function maskValue(value: unknown): unknown {
  if (typeof value === 'string') return maskText(value);
  if (Array.isArray(value)) return value.map(maskValue);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = maskValue(v);
    return out;
  }
  return value;
}
