/**
 * RFC 3339 timestamps. `Date.parse` accepts far more than RFC 3339 and silently drops sub-millisecond
 * digits, so timestamps are checked with an exact grammar and kept as epoch milliseconds plus a
 * canonical UTC spelling (used where two spellings of one instant must compare equal).
 */
const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|([+-])(\d{2}):(\d{2}))$/;

export interface Instant {
  /** Milliseconds since the epoch (sub-millisecond digits truncated). */
  readonly ms: number;
  /** The same instant in UTC with the fraction to the nanosecond, trailing zeros dropped. */
  readonly canonical: string;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Parses an RFC 3339 date-time with a mandatory offset; `undefined` when it is not one. */
export function parseRfc3339(text: string): Instant | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number, number, number, number, number, number,
  ];
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 60) return undefined;
  let offsetMinutes = 0;
  if (m[9] !== undefined) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return undefined;
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const fraction = (m[7] ?? '').slice(1).padEnd(9, '0');
  // A leap second (":60") is the same instant as the next second's start for ordering purposes.
  const base = Date.UTC(year, month - 1, day, hour, minute, second) - offsetMinutes * 60_000;
  const ms = base + Number(fraction.slice(0, 3));
  const iso = new Date(base).toISOString().slice(0, 19);
  const frac = fraction.replace(/0+$/, '');
  return { ms, canonical: `${iso}${frac ? `.${frac}` : ''}Z` };
}

/** The UTC calendar date (YYYY-MM-DD) of an instant. */
export function utcDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}
