import { z } from 'zod';
import { eventTypes, isEventType } from './catalog';
import { compiledParse } from './compiled';
import { duplicateKeyPath } from './duplicate-keys';
import { BusinessEvent, withoutNullAttributes } from './envelope';
import { decodeUtf8 } from './utf8';
import { instantOf } from './time';

/** One problem with an event: where (a dotted path, empty for the whole event) and what. */
export interface ValidationError {
  readonly path: string;
  readonly message: string;
}

/** What could be read of an invalid event, for findings and triage. */
export interface EventIdentity {
  readonly id?: string;
  readonly type?: string;
  readonly source?: string;
}

export type Validation =
  | {
      readonly ok: true;
      readonly event: BusinessEvent;
      readonly timeMs: number;
      readonly canonicalTime: string;
      /** The value as it was decoded: `event` is the schema's copy of it (its keys in the schema's order, null attributes dropped). */
      readonly decoded: unknown;
    }
  | { readonly ok: false; readonly errors: ValidationError[]; readonly reason: string; readonly identity: EventIdentity };

export interface ValidationContext {
  /** The checking clock, epoch ms. */
  readonly now: number;
  /** How far in the future of `now` an event's `time` may lie. */
  readonly maxFutureMs: number;
}

export const DEFAULT_MAX_FUTURE_MS = 5 * 60_000;

/** "is required" reads better than "expected string, received undefined" for a missing field. */
const PARSE_PARAMS = { error: (issue: { input?: unknown; code?: string }) => (issue.code === 'invalid_type' && issue.input === undefined ? 'is required' : undefined) };

/** Validates a decoded JSON value against the envelope and the catalog (DESIGN §2). */
export function validateEvent(value: unknown, ctx: ValidationContext): Validation {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return invalid([{ path: '', message: 'must be a JSON object (a CloudEvent in structured mode)' }], {});
  }
  const raw = withoutNullAttributes(value as Record<string, unknown>);
  const deep = tooDeep(raw);
  if (deep !== undefined) return invalid([{ path: deep, message: `nests deeper than ${MAX_DATA_DEPTH} levels of objects and arrays` }], identityOf(raw));
  if (!isEventType(raw.type)) {
    const errors = [{ path: 'type', message: `must be one of ${eventTypes.join(', ')}` }];
    // Report the envelope's own problems too, so one pass tells the producer everything.
    return invalid([...envelopeErrors(raw), ...errors], identityOf(raw));
  }
  // The check compiled from the schemas (compiled.ts) answers what zod would for an event it can
  // tell is valid; anything else is zod's to judge and describe. Zod without parameters first:
  // any parse parameter takes zod off its compiled fast path (+75 % per event). Only an invalid
  // event, the rare case, is parsed again for the messages.
  let event = compiledParse(raw.type, raw);
  if (event === undefined) {
    const parsed = BusinessEvent.safeParse(raw);
    if (!parsed.success) return invalid(toErrors(BusinessEvent.safeParse(raw, PARSE_PARAMS).error ?? parsed.error), identityOf(raw));
    event = parsed.data;
  }
  // The schema has checked the grammar (RFC3339_PATTERN): the time is parsed once, here.
  const instant = instantOf(event.time);
  if (instant === undefined) {
    const message = event.time.slice(17, 19) === '60'
      ? 'has second 60, which RFC 3339 §5.7 allows only for a leap second: 23:59:60 UTC at the end of a month that had one (the last: 2016-12-31)'
      : 'must be a valid RFC 3339 date-time (no such date or time)';
    return invalid([{ path: 'time', message }], identityOf(raw));
  }
  const timeMs = instant.ms;
  if (timeMs > ctx.now + ctx.maxFutureMs) {
    const minutes = ctx.maxFutureMs / 60_000;
    return invalid(
      [{ path: 'time', message: `is more than ${minutes} minutes in the future (checked at ${new Date(ctx.now).toISOString()})` }],
      identityOf(raw),
    );
  }
  return { ok: true, event, timeMs, canonicalTime: instant.canonical, decoded: value };
}

/**
 * Decodes one JSON text and validates it; malformed JSON is an invalid event, never a throw.
 * The deduplicator (which validates every event first), every downstream decode and replay's workers all come here, so what
 * the text may hide (a byte-order mark, a repeated key, a lone surrogate, data as base64) is
 * judged once, the same everywhere.
 */
export function validateJson(text: string, ctx: ValidationContext): Validation {
  // RFC 8259 §8.1: "Implementations MUST NOT add a byte order mark (U+FEFF) to the beginning of a
  // networked-transmitted JSON text." Refused rather than skipped, so that the bytes forwarded
  // and archived are never other than the bytes judged. (Replay strips one at the start of its
  // input file: that mark is the file's, see cli/replay/lines.ts.)
  if (text.charCodeAt(0) === 0xfeff) return invalid([{ path: '', message: BOM }], {});
  const decoded = decodeJson(text, '');
  if (!decoded.ok) return decoded.invalid;
  const value = decoded.value;
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && Object.hasOwn(value, 'data_base64')) {
    const raw = value as Record<string, unknown>;
    const unpacked = unpackBase64Data(raw);
    if (!unpacked.ok) return invalid([unpacked.error], identityOf(raw));
    const result = validateEvent(unpacked.value, ctx);
    // `decoded` is what the text decodes to (with data_base64): replay re-reads accepted lines from their text.
    return result.ok ? { ...result, decoded: value } : result;
  }
  return validateEvent(value, ctx);
}

const BOM = 'starts with a byte-order mark (U+FEFF): a JSON text sent over a network must not (RFC 8259 §8.1)';

/**
 * `JSON.parse`, then what it cannot see: lone surrogates and repeated keys. `at` prefixes the
 * paths (`data` for the JSON inside data_base64).
 */
function decodeJson(text: string, at: string): { ok: true; value: unknown } | { ok: false; invalid: Validation } {
  const prefix = (path: readonly string[]) => [...(at ? [at] : []), ...path].join('.');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    // Inside data_base64, the member to blame is data_base64 itself.
    return { ok: false, invalid: invalid([{ path: at ? 'data_base64' : '', message: `${at ? 'does not hold JSON' : 'is not valid JSON'} (${(err as Error).message})` }], {}) };
  }
  const identity = () => (!at && value !== null && typeof value === 'object' && !Array.isArray(value) ? identityOf(value as Record<string, unknown>) : {});
  // A lone surrogate can only come from a `\uD8xx`-style escape (as bytes it is not UTF-8):
  // look for one only when the text has such an escape.
  if (text.indexOf('\\u') !== -1 && SURROGATE_ESCAPE.test(text)) {
    const path = loneSurrogateAt(value, []);
    if (path !== undefined) return { ok: false, invalid: invalid([{ path: prefix(path), message: 'holds a lone UTF-16 surrogate (not Unicode text)' }], identity()) };
  }
  const repeated = duplicateKeyPath(text, value);
  if (repeated !== undefined) {
    const known = identity();
    // A repeated id, type or source has no one value to name the event by.
    if (!at && repeated.length === 1) delete (known as Record<string, unknown>)[repeated[0]!];
    return { ok: false, invalid: invalid([{ path: prefix(repeated), message: DUPLICATE_KEY }], known) };
  }
  return { ok: true, value };
}

/** Standard base64 with padding (RFC 4648 §4), as the CloudEvents JSON format names it. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * CloudEvents JSON format §3.1 (https://github.com/cloudevents/spec/blob/main/cloudevents/formats/json-format.md):
 * binary data travels base64 encoded as `data_base64`, which is what the cloudevents SDK writes
 * for data given as bytes, and "the presence of the `data` and `data_base64` members is mutually
 * exclusive". The catalog's data is a JSON object, so the bytes must be JSON (UTF-8), declared
 * so by `datacontenttype` when it is there (`* /json` or `* /*+json`); the event is then read as
 * if the object had come as `data`.
 */
function unpackBase64Data(raw: Record<string, unknown>): { ok: true; value: Record<string, unknown> } | { ok: false; error: ValidationError } {
  if (Object.hasOwn(raw, 'data')) return { ok: false, error: { path: '', message: 'has both data and data_base64: a CloudEvent carries one or the other (CloudEvents JSON format §3.1.1)' } };
  const encoded = raw.data_base64;
  if (typeof encoded !== 'string' || !BASE64.test(encoded)) return { ok: false, error: { path: 'data_base64', message: 'must be a base64 string (RFC 4648 §4)' } };
  const type = raw.datacontenttype;
  if (type !== undefined && type !== null && !(typeof type === 'string' && JSON_MEDIA_TYPE.test(type.split(';')[0]!.trim()))) {
    return { ok: false, error: { path: 'datacontenttype', message: `is ${JSON.stringify(type)}: data_base64 must hold JSON (a media type */json or */*+json), as the data of every event type is a JSON object` } };
  }
  const text = decodeUtf8(Buffer.from(encoded, 'base64'));
  if (!text.ok) return { ok: false, error: { path: 'data_base64', message: `holds bytes that are ${text.reason.replace(/^is /, '')}` } };
  const inner = decodeJson(text.text, 'data');
  if (!inner.ok) return { ok: false, error: (inner.invalid as Extract<Validation, { ok: false }>).errors[0]! };
  const { data_base64: _encoded, ...rest } = raw;
  return { ok: true, value: { ...rest, data: inner.value } };
}

const JSON_MEDIA_TYPE = /^[\w.!#$&^+-]+\/(?:[\w.!#$&^+-]*\+)?json$/i;

const DUPLICATE_KEY = 'appears more than once in one object (a duplicate JSON key: a reader keeping the first and one keeping the last would see different events)';

const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Where a string (or a key) of `value` holds a lone surrogate. JSON.parse admits them; hashing
 * encodes them as U+FFFD, so two ids differing only there would share a Firestore key.
 * Depth is bounded by the caller's text (the depth rule runs after, on valid Unicode only).
 */
function loneSurrogateAt(value: unknown, path: string[]): string[] | undefined {
  if (typeof value === 'string') return LONE_SURROGATE.test(value) ? path : undefined;
  if (value === null || typeof value !== 'object') return undefined;
  if (path.length > MAX_DATA_DEPTH + 1) return undefined; // too deep: the depth rule reports it
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const at = loneSurrogateAt(value[i], [...path, String(i)]);
      if (at) return at;
    }
    return undefined;
  }
  for (const key in value) {
    if (LONE_SURROGATE.test(key)) return path;
    const at = loneSurrogateAt((value as Record<string, unknown>)[key], [...path, key]);
    if (at) return at;
  }
  return undefined;
}

/**
 * How deep `data` (or an extension attribute) may nest objects and arrays, itself counting as 1.
 * Business data nests 3 levels; later stages (canonical JSON, `JSON.stringify`) recurse, and a
 * few thousand levels overflow their stack, so validation never accepts what they cannot take.
 */
export const MAX_DATA_DEPTH = 64;

/** The attribute whose value nests deeper than {@link MAX_DATA_DEPTH}, if any. */
function tooDeep(raw: Record<string, unknown>): string | undefined {
  for (const key in raw) {
    const v = raw[key];
    if (v !== null && typeof v === 'object' && depthOver(v, MAX_DATA_DEPTH)) return key;
  }
  return undefined;
}

/** True when `value` nests more than `left` levels; recursion bounded by `left`. */
function depthOver(value: object, left: number): boolean {
  if (left === 0) return true;
  if (Array.isArray(value)) {
    for (const item of value) if (item !== null && typeof item === 'object' && depthOver(item, left - 1)) return true;
    return false;
  }
  for (const key in value) {
    const item = (value as Record<string, unknown>)[key];
    if (item !== null && typeof item === 'object' && depthOver(item, left - 1)) return true;
  }
  return false;
}

const EnvelopeOnly = z.looseObject({
  specversion: z.literal('1.0', { message: 'must be "1.0"' }),
  id: z.string().min(1).max(256),
  source: z.string().min(1),
  time: z.string(),
  data: z.record(z.string(), z.unknown()),
});

function envelopeErrors(raw: Record<string, unknown>): ValidationError[] {
  const parsed = EnvelopeOnly.safeParse(raw, PARSE_PARAMS);
  return parsed.success ? [] : toErrors(parsed.error);
}

function identityOf(raw: Record<string, unknown>): EventIdentity {
  const pick = (v: unknown) => (typeof v === 'string' && v.length > 0 && v.length <= 256 ? v : undefined);
  const identity: { id?: string; type?: string; source?: string } = {};
  const id = pick(raw.id);
  const type = pick(raw.type);
  const source = pick(raw.source);
  if (id !== undefined) identity.id = id;
  if (type !== undefined) identity.type = type;
  if (source !== undefined) identity.source = source;
  return identity;
}

function toErrors(error: z.ZodError): ValidationError[] {
  return error.issues.map((issue) => ({
    path: issue.path.map(String).join('.'),
    message: issue.message,
  }));
}

/** At most this many problems are kept per event (and 20 in its sentence): one bad event with 50,000 bad line items must not make a 10 MB finding. */
const MAX_ERRORS = 100;
const MAX_DESCRIBED = 20;

function invalid(errors: ValidationError[], identity: EventIdentity): Validation {
  const shown = errors.map((e) => ({ path: visible(e.path), message: visible(e.message) }));
  const kept = shown.length > MAX_ERRORS ? [...shown.slice(0, MAX_ERRORS), { path: '', message: `and ${shown.length - MAX_ERRORS} more problems` }] : shown;
  return { ok: false, errors: kept, reason: describe(shown), identity };
}

/** Controls, format characters (U+FEFF, zero-width spaces) and line separators, which a reason would print as nothing. */
const INVISIBLE = /[\p{Cc}\p{Cf}\u2028\u2029]/gu;

/** A text with its invisible characters named (`<U+FEFF>`): JSON.parse quotes the text it fails on. */
function visible(text: string): string {
  INVISIBLE.lastIndex = 0;
  return INVISIBLE.test(text) ? text.replace(INVISIBLE, (c) => `<U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}>`) : text;
}

/** One readable sentence: `data.amount: Invalid input: expected int; time: must be …`. */
export function describe(errors: readonly ValidationError[]): string {
  const text = errors
    .slice(0, MAX_DESCRIBED)
    .map((e) => (e.path ? `${e.path}: ${e.message}` : e.message))
    .join('; ');
  return errors.length > MAX_DESCRIBED ? `${text}; and ${errors.length - MAX_DESCRIBED} more problems` : text;
}
