/**
 * A 128-bit digest of a string for replay's in-memory dedup keys: four 32-bit lanes fed two
 * UTF-16 code units at a time, mixed across lanes after every word and avalanched at the end
 * (each output bit depends on every input bit). No allocation, no native call: about a tenth
 * of the cost of `crypto.hash` on the short texts of the hot path.
 *
 * It is not cryptographic: a producer who set out to could craft two texts with one digest. For
 * texts that are not crafted, n keys collide with probability about n²/2^129; replay keeps 96
 * of the bits, so n²/2^97 (see window-dedup.ts). The state kept in GCP (Firestore) still uses the texts themselves and SHA-1.
 */

const P1 = 0x9e3779b1; // odd multipliers with well-spread bits
const P2 = 0x85ebca77;
const P3 = 0xc2b2ae3d;
const P4 = 0x27d4eb2f;

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function avalanche(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h;
}

// The running state of the digest being fed: four lanes, a code unit waiting for its pair
// (-1 when none), and the units fed so far. One digest at a time per thread.
let la = 0;
let lb = 0;
let lc = 0;
let ld = 0;
let half = -1;
let units = 0;

/** Starts a digest: then `feed…` its parts and `finish` it. */
export function begin(): void {
  la = 0x243f6a88;
  lb = 0x85a308d3;
  lc = 0x13198a2e;
  ld = 0x03707344;
  half = -1;
  units = 0;
}

/** Mixes one word of two code units into the lanes: one lane takes it, the lanes turn, and each takes in its neighbour. */
function word(w: number): void {
  const k = Math.imul(rotl(Math.imul(w >>> 0, P1), 15), P2);
  const t = rotl(la ^ k, 13);
  la = (Math.imul(lb, 5) + 0x561ccd1b) | 0;
  lb = (lc + rotl(t, 7)) | 0;
  lc = (ld ^ Math.imul(t, P3)) | 0;
  ld = (t + Math.imul(la, P4)) | 0;
}

/**
 * Feeds the code units of `text`. The lanes are read into locals for the loop and written back
 * once: `word` on the module's variables loaded and stored all four lanes for every two code units
 * (the digests were 16 % of a worker's profile).
 */
export function feedText(text: string): void {
  const n = text.length;
  let i = 0;
  if (half >= 0 && n > 0) {
    word(half | (text.charCodeAt(0) << 16));
    half = -1;
    i = 1;
  }
  let a = la;
  let b = lb;
  let c = lc;
  let d = ld;
  for (; i + 1 < n; i += 2) {
    // word(), inlined on the locals: the same steps in the same order.
    const k = Math.imul(rotl(Math.imul(text.charCodeAt(i) | (text.charCodeAt(i + 1) << 16), P1), 15), P2);
    const t = rotl(a ^ k, 13);
    a = (Math.imul(b, 5) + 0x561ccd1b) | 0;
    b = (c + rotl(t, 7)) | 0;
    c = (d ^ Math.imul(t, P3)) | 0;
    d = (t + Math.imul(a, P4)) | 0;
  }
  la = a;
  lb = b;
  lc = c;
  ld = d;
  if (i < n) half = text.charCodeAt(i);
  units += n;
}

/** Feeds one 16-bit unit. */
function feedUnit(u: number): void {
  if (half >= 0) {
    word(half | (u << 16));
    half = -1;
  } else {
    half = u;
  }
  units++;
}

/** Feeds a count or a safe integer as four units, so that every value is fed at one length. */
function feedInteger(n: number): void {
  const lo = n >>> 0;
  const hi = Math.floor(n / 0x1_0000_0000) | 0;
  // The four units lo & 0xffff, lo >>> 16, hi & 0xffff, hi >>> 16, paired as feedUnit would pair them.
  if (half < 0) {
    word(lo);
    word(hi);
  } else {
    word(half | ((lo & 0xffff) << 16));
    word((lo >>> 16) | ((hi & 0xffff) << 16));
    half = hi >>> 16;
  }
  units += 4;
}

/** Feeds a string with its length first: a sequence of fed strings is read back one way only. */
export function feedString(s: string): void {
  feedInteger(s.length);
  feedText(s);
}

const TAG_NULL = 0;
const TAG_FALSE = 1;
const TAG_TRUE = 2;
const TAG_INTEGER = 3;
const TAG_NUMBER = 4;
const TAG_STRING = 5;
const TAG_ARRAY = 6;
const TAG_OBJECT = 7;

/**
 * Feeds a JSON value in a form that determines its canonical JSON (`canonicalJson` in
 * shared/events/keys.ts: object keys sorted by code unit at every depth) and is determined by it:
 * values with the same canonical text are fed alike, values with different ones differently.
 * Every item is tagged and every string and collection counted first. A number is fed as its
 * JSON text is written (`String(n)`, which spells -0 as 0), a safe integer as its value.
 */
export function feedJson(value: unknown): void {
  if (value === null) return feedUnit(TAG_NULL);
  switch (typeof value) {
    case 'string':
      feedUnit(TAG_STRING);
      return feedString(value);
    case 'number':
      if (Number.isSafeInteger(value)) {
        feedUnit(TAG_INTEGER);
        return feedInteger(value);
      }
      feedUnit(TAG_NUMBER);
      return feedString(String(value));
    case 'boolean':
      return feedUnit(value ? TAG_TRUE : TAG_FALSE);
    case 'object':
      break;
    default:
      throw new TypeError(`not a JSON value: ${typeof value}`);
  }
  if (Array.isArray(value)) {
    feedUnit(TAG_ARRAY);
    feedInteger(value.length);
    for (let i = 0; i < value.length; i++) feedJson(value[i]);
    return;
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  if (keys.length > 1) sortKeys(keys);
  feedUnit(TAG_OBJECT);
  feedInteger(keys.length);
  for (let i = 0; i < keys.length; i++) {
    feedString(keys[i]!);
    feedJson(record[keys[i]!]);
  }
}

/**
 * Sorts keys by code unit, as `Array#sort` without a comparator does for strings: insertion, for
 * the few keys of an event's objects (often in order already), without sort's own set-up.
 */
function sortKeys(keys: string[]): void {
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i]!;
    let j = i - 1;
    if (keys[j]! <= key) continue;
    do {
      keys[j + 1] = keys[j]!;
      j--;
    } while (j >= 0 && keys[j]! > key);
    keys[j + 1] = key;
  }
}

/** Ends the digest and writes it into `out[offset..offset+3]`. */
export function finish(out: Uint32Array, offset: number): void {
  let a = la;
  let b = lb;
  let c = lc;
  let d = ld;
  if (half >= 0) a ^= Math.imul(rotl(Math.imul(half, P1), 15), P2);
  const n = units;
  a ^= n;
  b ^= n;
  a = (a + b + c + d) | 0;
  b = (b + a) | 0;
  c = (c + a) | 0;
  d = (d + a) | 0;
  a = avalanche(a);
  b = avalanche(b);
  c = avalanche(c);
  d = avalanche(d);
  a = (a + b + c + d) | 0;
  b = (b + a) | 0;
  c = (c + a) | 0;
  d = (d + a) | 0;
  out[offset] = a;
  out[offset + 1] = b;
  out[offset + 2] = c;
  out[offset + 3] = d;
}

/** Writes the digest of `text` into `out[offset..offset+3]`. */
export function digest128(text: string, out: Uint32Array, offset: number): void {
  begin();
  feedText(text);
  finish(out, offset);
}
