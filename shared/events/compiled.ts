import type { z } from 'zod';
import { BusinessEvent, envelopes } from './envelope';
import type { EventType } from './catalog';

/**
 * Validators compiled from the catalog's zod schemas, for the hot path (replay parses millions of
 * events): a check per event type, generated once from each schema's definition, that accepts an
 * event only when `BusinessEvent.safeParse` would, and answers with the value zod would answer.
 * It never rejects on its own: on any doubt it answers `undefined` and the caller asks zod, which
 * stays the one source of truth and writes every error message (validate.ts).
 *
 * The checks are generated from the schemas' definitions (`_zod.def`: types, checks with their
 * bounds, patterns and refinement functions), each kind doing what zod's own does for it
 * (zod/v4/core/schemas.js and checks.js: lengths in code points, regexes from `lastIndex` 0, safe
 * integers), so a rule changed in a schema changes here too. A schema node or check of a kind not
 * listed compiles to "ask zod" for that whole event type.
 *
 * What zod's object parse answers (zod 4 `$ZodObject`): a new object with the shape's keys that
 * are present, in the shape's order, then (a `looseObject`'s catchall) the other keys in the
 * input's order, `__proto__` left out. So an object whose keys already come in that order, and
 * that holds no `__proto__`, is answered as it is: the check reuses it instead of copying it. Only
 * the envelope is rebuilt: producers (the generator, the examples) write `type` before `time`
 * and the schema declares it after, so the envelope is nearly always reordered.
 */

type Check = (value: unknown) => boolean;

interface ZodInternals {
  readonly def: {
    readonly type: string;
    readonly shape?: Record<string, z.ZodType>;
    readonly catchall?: z.ZodType;
    readonly element?: z.ZodType;
    readonly innerType?: z.ZodType;
    readonly checks?: ReadonlyArray<z.ZodType>;
    readonly coerce?: boolean;
    readonly format?: string;
  };
  readonly optin?: string;
  readonly traits: ReadonlySet<string>;
  readonly values?: ReadonlySet<unknown>;
}

/** What a check (`.min()`, `.regex()`, `.refine()`, …) holds in its definition. */
interface CheckDef {
  readonly check: string;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly value?: unknown;
  readonly inclusive?: boolean;
  readonly format?: string;
  readonly pattern?: RegExp;
  readonly fn?: (value: unknown) => unknown;
}

const internals = (schema: z.ZodType) => (schema as unknown as { _zod: ZodInternals })._zod;
const checkDef = (check: z.ZodType) => (check as unknown as { _zod: { def: CheckDef } })._zod.def;

/** Strings are measured in code points (zod 4's `util.codePointLength`): a surrogate pair counts once. */
function codePoints(text: string): number {
  let count = text.length;
  for (let i = 0; i < text.length - 1; i++) {
    if ((text.charCodeAt(i) & 0xfc00) === 0xd800 && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      count--;
      i++;
    }
  }
  return count;
}

/**
 * One check of a leaf, as zod's check does it (zod/v4/core/checks.js): true when it passes.
 * `undefined` for a kind not listed (ask zod). A refinement passes only on `true` (zod accepts any
 * truthy answer: accepting less is allowed here, never more).
 */
function compileCheck(check: z.ZodType, leafType: string): ((value: never) => boolean) | undefined {
  const def = checkDef(check);
  switch (def.check) {
    case 'min_length': {
      const min = def.minimum!;
      // Fewer units than the floor never reach it, twice the floor always does (zod's shortcut).
      return (v: string) => v.length >= min && (v.length >= 2 * min || codePoints(v) >= min);
    }
    case 'max_length': {
      const max = def.maximum!;
      return (v: string) => v.length <= max || codePoints(v) <= max;
    }
    case 'string_format': {
      const pattern = def.pattern;
      if (def.format !== 'regex' || !pattern || leafType !== 'string') return undefined;
      return (v: string) => {
        pattern.lastIndex = 0;
        return pattern.test(v);
      };
    }
    case 'greater_than': {
      const bound = def.value;
      if (typeof bound !== 'number' || leafType !== 'number') return undefined;
      return def.inclusive ? (v: number) => v >= bound : (v: number) => v > bound;
    }
    case 'less_than': {
      const bound = def.value;
      if (typeof bound !== 'number' || leafType !== 'number') return undefined;
      return def.inclusive ? (v: number) => v <= bound : (v: number) => v < bound;
    }
    case 'custom': {
      const fn = def.fn;
      if (!fn) return undefined;
      return (v: never) => fn(v) === true;
    }
    default:
      return undefined;
  }
}

/** The type test of a leaf (zod's `parse` of that kind, without coercion); `undefined` for another kind. */
function leafType(zod: ZodInternals): Check | undefined {
  const def = zod.def;
  if (def.coerce) return undefined;
  // A schema that is itself a check (a string format such as z.email(), a number format) checks
  // more in its own way: only the number formats below are known here.
  const selfCheck = zod.traits.has('$ZodCheck');
  switch (def.type) {
    case 'string':
      return selfCheck ? undefined : (v) => typeof v === 'string';
    case 'number':
      if (selfCheck && def.format === 'safeint') return (v) => typeof v === 'number' && Number.isSafeInteger(v);
      return selfCheck ? undefined : (v) => typeof v === 'number' && Number.isFinite(v);
    case 'boolean':
      return selfCheck ? undefined : (v) => typeof v === 'boolean';
    case 'literal':
    case 'enum': {
      const values = zod.values;
      return selfCheck || !values ? undefined : (v) => values.has(v);
    }
    default:
      return undefined;
  }
}

function compileLeaf(zod: ZodInternals): Check | undefined {
  const type = leafType(zod);
  if (!type) return undefined;
  const tests: Array<(value: never) => boolean> = [];
  for (const c of zod.def.checks ?? []) {
    const t = compileCheck(c, zod.def.type);
    if (!t) return undefined;
    tests.push(t);
  }
  const [a, b] = tests;
  if (tests.length === 0) return type;
  if (tests.length === 1) return (v) => type(v) && a!(v as never);
  if (tests.length === 2) return (v) => type(v) && a!(v as never) && b!(v as never);
  return (v) => {
    if (!type(v)) return false;
    for (let i = 0; i < tests.length; i++) if (!tests[i]!(v as never)) return false;
    return true;
  };
}

/** A check that is true only when zod accepts `value` and answers it unchanged; `undefined` when the node cannot be compiled. */
function compile(schema: z.ZodType): Check | undefined {
  const zod = internals(schema);
  const def = zod.def;
  const leaf = compileLeaf(zod);
  if (leaf) return leaf;
  switch (def.type) {
    case 'unknown':
      return () => true;
    case 'optional': {
      const inner = compile(def.innerType!);
      if (!inner || internals(def.innerType!).optin !== undefined) return undefined;
      return (value) => value === undefined || inner(value);
    }
    case 'array': {
      const element = compile(def.element!);
      if (!element || !lengthChecksOnly(def.checks)) return undefined;
      const lengthCheck = arrayLengths(def.checks);
      return (value) => {
        if (!Array.isArray(value) || !lengthCheck(value.length)) return false;
        for (let i = 0; i < value.length; i++) if (!element(value[i])) return false;
        return true;
      };
    }
    case 'object':
      return compileObject(def.shape!, def.catchall, def.checks)?.same;
    default:
      return undefined;
  }
}

/** Only `min_length` / `max_length` checks on an array (what the catalog uses). */
function lengthChecksOnly(checks: ReadonlyArray<z.ZodType> | undefined): boolean {
  return (checks ?? []).every((c) => {
    const check = checkDef(c).check;
    return check === 'min_length' || check === 'max_length';
  });
}

function arrayLengths(checks: ReadonlyArray<z.ZodType> | undefined): (length: number) => boolean {
  let min = 0;
  let max = Number.POSITIVE_INFINITY;
  for (const c of checks ?? []) {
    const def = checkDef(c);
    if (def.check === 'min_length') min = Math.max(min, def.minimum!);
    else max = Math.min(max, def.maximum!);
  }
  return (length) => length >= min && length <= max;
}

interface CompiledObject {
  /** True when zod accepts the object and answers it as it is (same keys in the same order). */
  readonly same: Check;
  /** zod's answer for the object, built in zod's key order, or `undefined` (ask zod). */
  readonly parse: (value: unknown) => Record<string, unknown> | undefined;
}

function compileObject(shape: Record<string, z.ZodType>, catchall: z.ZodType | undefined, checks: ReadonlyArray<z.ZodType> | undefined): CompiledObject | undefined {
  // A loose object only (catchall unknown), with no object-level refinements.
  if (!catchall || internals(catchall).def.type !== 'unknown' || (checks ?? []).length > 0) return undefined;
  const keys = Object.keys(shape);
  if (keys.includes('__proto__')) return undefined;
  const valueChecks: Check[] = [];
  for (const key of keys) {
    const c = compile(shape[key]!);
    if (!c) return undefined;
    valueChecks.push(c);
  }
  const required = keys.map((key) => internals(shape[key]!).optin === undefined);
  const index = new Map(keys.map((key, i) => [key, i]));
  const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);
  const same: Check = (value) => {
    if (!isObject(value)) return false;
    let last = -1;
    let extra = false;
    for (const key in value) {
      const i = index.get(key);
      if (i === undefined) {
        if (key === '__proto__') return false;
        extra = true;
        continue;
      }
      // A declared key after an undeclared one, or out of the shape's order: zod's answer has another order.
      if (extra || i < last) return false;
      for (let j = last + 1; j < i; j++) if (required[j]) return false;
      last = i;
      if (!valueChecks[i]!(value[key])) return false;
    }
    for (let j = last + 1; j < keys.length; j++) if (required[j]) return false;
    return true;
  };
  const parse = (value: unknown): Record<string, unknown> | undefined => {
    if (!isObject(value)) return undefined;
    const out: Record<string, unknown> = {};
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      // `in`, as zod's object parse asks whether a key is present.
      if (!(key in value)) {
        if (required[i]) return undefined;
        continue;
      }
      const v = value[key];
      if (!valueChecks[i]!(v)) return undefined;
      out[key] = v;
    }
    for (const key in value) {
      if (index.has(key) || key === '__proto__') continue;
      out[key] = value[key];
    }
    return out;
  };
  return { same, parse };
}

/** The envelope of each type, compiled from its zod schema once, when first needed. */
const compiled = new Map<string, CompiledObject | null>();

function variant(type: EventType): CompiledObject | null {
  let c = compiled.get(type);
  if (c === undefined) {
    const def = internals(envelopes[type]).def;
    c = def.type === 'object' ? (compileObject(def.shape!, def.catchall, def.checks) ?? null) : null;
    compiled.set(type, c);
  }
  return c;
}

/**
 * What `BusinessEvent.safeParse(raw)` answers for an event of catalog type `type`, when the
 * compiled check can tell it is valid; `undefined` otherwise (invalid, or not sure: ask zod).
 * The answer shares the input's nested objects and arrays (zod's answer copies them, equal to them).
 */
export function compiledParse(type: EventType, raw: Record<string, unknown>): BusinessEvent | undefined {
  return variant(type)?.parse(raw) as BusinessEvent | undefined;
}

/** The envelope's keys in the order zod answers them (the same in every variant). */
const ENVELOPE_ORDER: readonly string[] = Object.keys(internals(BusinessEvent.options[0]).def.shape!);
const ENVELOPE_KEYS: ReadonlySet<string> = new Set(ENVELOPE_ORDER);
for (const v of BusinessEvent.options) {
  if (Object.keys(internals(v).def.shape!).join() !== ENVELOPE_ORDER.join()) throw new Error('compiled.ts: the event types\' envelopes declare their keys in different orders');
}

/**
 * An event object's own top-level keys in the order zod's answer has them: the envelope's
 * declared keys in the schema's order, then the others in their order, `__proto__` left out (as
 * zod's object parse does). Nested values are shared, not copied. For a valid event whose nested
 * objects are in their schemas' order (the compiled check's common case), this is zod's answer,
 * which is how replay's main thread rebuilds an event from its text (cli/replay/prepare.ts).
 */
export function inEnvelopeOrder(value: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < ENVELOPE_ORDER.length; i++) {
    const key = ENVELOPE_ORDER[i]!;
    if (key in value) out[key] = value[key];
  }
  for (const key in value) {
    if (!ENVELOPE_KEYS.has(key) && key !== '__proto__') out[key] = value[key];
  }
  return out;
}

/**
 * Whether `inEnvelopeOrder(value)` has `object`'s keys in `object`'s order, each value `same` as
 * `object`'s, without making that copy (replay's worker asks it of every event: the copy cost
 * about a third of a JSON.parse). An integer-like key, which an object lists first whatever its
 * place, makes the answer false, never wrongly true.
 */
export function sameInEnvelopeOrder(value: Record<string, unknown>, object: Record<string, unknown>, same: (a: unknown, b: unknown) => boolean): boolean {
  const keys = Object.keys(object);
  let at = 0;
  for (let i = 0; i < ENVELOPE_ORDER.length; i++) {
    const key = ENVELOPE_ORDER[i]!;
    if (!(key in value)) continue;
    if (keys[at] !== key || !same(value[key], object[key])) return false;
    at++;
  }
  for (const key in value) {
    if (ENVELOPE_KEYS.has(key) || key === '__proto__') continue;
    if (keys[at] !== key || !same(value[key], object[key])) return false;
    at++;
  }
  return at === keys.length;
}
