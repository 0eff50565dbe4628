/**
 * RFC 3339 timestamps. `Date.parse` accepts far more than RFC 3339 and silently drops sub-millisecond
 * digits, so timestamps are checked with an exact grammar and kept as epoch milliseconds plus a
 * canonical UTC spelling (used where two spellings of one instant must compare equal).
 * This runs on every event in replay, so it avoids allocation where it can.
 */
export const RFC3339_PATTERN =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|([+-])(\d{2}):(\d{2}))$/;

export interface Instant {
  /** Milliseconds since the epoch (sub-millisecond digits truncated). */
  readonly ms: number;
  /** The same instant in UTC with the fraction to the nanosecond, trailing zeros dropped. */
  readonly canonical: string;
}

/**
 * The UTC days that ended with a leap second (23:59:60Z), from the IERS leap-second table
 * (IERS Bulletin C, as the tz database's leap-seconds.list carries it: each new TAI-UTC offset
 * starts the day after one of these). RFC 3339 §5.7 allows second 60 only "at the end of months
 * in which a leap second occurs", shifted by the zone offset, so a `:60` anywhere else is no
 * time at all. The last was 2016-12-31; the IERS announces one six months ahead, and one would
 * be added here (none is expected: the CGPM decided in 2022 to stop them by 2035).
 */
const LEAP_SECOND_DAYS = new Set([
  '1972-06-30', '1972-12-31', '1973-12-31', '1974-12-31', '1975-12-31', '1976-12-31', '1977-12-31', '1978-12-31', '1979-12-31',
  '1981-06-30', '1982-06-30', '1983-06-30', '1985-06-30', '1987-12-31', '1989-12-31', '1990-12-31', '1992-06-30', '1993-06-30',
  '1994-06-30', '1995-12-31', '1997-06-30', '1998-12-31', '2005-12-31', '2008-12-31', '2012-06-30', '2015-06-30', '2016-12-31',
]);

const DAY_MS = 86_400_000;

/** Whether `utcMs`, the UTC instant of second 59 of a minute, is 23:59:59 of a day that ended with a leap second. */
function beforeLeapSecond(utcMs: number): boolean {
  return ((utcMs % DAY_MS) + DAY_MS) % DAY_MS === DAY_MS - 1000 && LEAP_SECOND_DAYS.has(new Date(utcMs).toISOString().slice(0, 10));
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Two ASCII digits at `i` as a number (the pattern has checked they are digits). */
function two(s: string, i: number): number {
  return (s.charCodeAt(i) - 48) * 10 + (s.charCodeAt(i + 1) - 48);
}

/** Parses an RFC 3339 date-time with a mandatory offset; `undefined` when it is not one. */
export function parseRfc3339(text: string): Instant | undefined {
  return RFC3339_PATTERN.test(text) ? instantOf(text) : undefined;
}

/**
 * The instant of a text already known to match {@link RFC3339_PATTERN} (the envelope schema
 * checks `time` with it): the calendar and offset checks and the arithmetic, without a second
 * pass of the grammar, so an event's time is parsed once. `undefined` for no such date or time.
 */
export function instantOf(text: string): Instant | undefined {
  const year = two(text, 0) * 100 + two(text, 2);
  const month = two(text, 5);
  const day = two(text, 8);
  const hour = two(text, 11);
  const minute = two(text, 14);
  const second = two(text, 17);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 60) return undefined;
  // The pattern's optional fraction starts at 19 with a '.'; the offset follows it.
  let end = 19;
  if (text.charCodeAt(19) === 46 /* . */) {
    end = 20;
    while (end < text.length && text.charCodeAt(end) >= 48 && text.charCodeAt(end) <= 57) end++;
  }
  let offsetMinutes = 0;
  const sign = text.charCodeAt(end);
  if (sign === 43 /* + */ || sign === 45 /* - */) {
    const oh = two(text, end + 1);
    const om = two(text, end + 4);
    if (oh > 23 || om > 59) return undefined;
    offsetMinutes = (sign === 45 ? -1 : 1) * (oh * 60 + om);
  }
  // A leap second (":60") orders as the next second's start.
  let utc = Date.UTC(year, month - 1, day, hour, minute, second);
  if (year < 100) utc = new Date(utc).setUTCFullYear(year); // Date.UTC maps years 0-99 to 1900-1999
  const base = utc - offsetMinutes * 60_000;
  if (second === 60 && !beforeLeapSecond(base - 1000)) return undefined;
  // Milliseconds: the first three digits of the fraction (fewer are padded with zeros).
  let ms = base;
  for (let i = 20, scale = 100; i < end && scale >= 1; i++, scale /= 10) ms += (text.charCodeAt(i) - 48) * scale;
  // The canonical fraction drops trailing zeros.
  let last = end;
  while (last > 20 && text.charCodeAt(last - 1) === 48 /* 0 */) last--;
  // Fast path: a UTC 'Z' time with no leap second is already canonical but for its fraction.
  const head = offsetMinutes === 0 && second < 60 && text.charCodeAt(10) === 84 /* T */ ? text.slice(0, 19) : isoSeconds(base);
  return { ms, canonical: last > 20 ? `${head}.${text.slice(20, last)}Z` : `${head}Z` };
}

/**
 * `toISOString` up to the seconds. Outside years 0000-9999 it spells the year with a sign and six
 * digits (`-000001-12-31T23:00:00.000Z`), so the cut is made from the end, never at a fixed 19.
 */
function isoSeconds(ms: number): string {
  const iso = new Date(ms).toISOString();
  return iso.slice(0, iso.length - 5);
}

/** The UTC calendar date (YYYY-MM-DD) of an instant. */
export function utcDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}
