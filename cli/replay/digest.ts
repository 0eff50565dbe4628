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

/** Writes the digest of `text` into `out[offset..offset+3]`. */
export function digest128(text: string, out: Uint32Array, offset: number): void {
  let a = 0x243f6a88;
  let b = 0x85a308d3;
  let c = 0x13198a2e;
  let d = 0x03707344;
  const n = text.length;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    let k = (text.charCodeAt(i) | (text.charCodeAt(i + 1) << 16)) >>> 0;
    k = Math.imul(rotl(Math.imul(k, P1), 15), P2);
    // One word goes into one lane; the lanes turn, and each takes in its neighbour.
    const t = rotl(a ^ k, 13);
    a = (Math.imul(b, 5) + 0x561ccd1b) | 0;
    b = (c + rotl(t, 7)) | 0;
    c = (d ^ Math.imul(t, P3)) | 0;
    d = (t + Math.imul(a, P4)) | 0;
  }
  if (i < n) {
    const k = Math.imul(rotl(Math.imul(text.charCodeAt(i), P1), 15), P2);
    a ^= k;
  }
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
