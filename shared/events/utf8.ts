/**
 * Bytes to text, strictly. `Buffer#toString('utf8')` silently rewrites bytes that are not UTF-8
 * to U+FFFD, so an event would no longer be the bytes it came as and two ids differing only in
 * such bytes would collide: a payload that is not UTF-8 (RFC 8259 §8.1) is an invalid event.
 */
export type Utf8 = { readonly ok: true; readonly text: string } | { readonly ok: false; readonly reason: string };

export function decodeUtf8(bytes: Uint8Array): Utf8 {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  // Only text that holds U+FFFD can have been rewritten: the common case costs one scan.
  if (text.indexOf('\uFFFD') === -1 || isUtf8(bytes)) return { ok: true, text };
  return { ok: false, reason: notUtf8Reason(firstInvalidByte(bytes)) };
}

const FATAL = new TextDecoder('utf-8', { fatal: true });

/** True when `bytes` are well-formed UTF-8 (a rare-path check: callers look for U+FFFD first). */
export function isUtf8(bytes: Uint8Array): boolean {
  try {
    FATAL.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

export function notUtf8Reason(offset: number): string {
  return `is not valid UTF-8 (at byte ${offset})`;
}

/** The 0-based offset of the first byte that does not belong to a well-formed UTF-8 sequence. */
export function firstInvalidByte(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    let n: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c < 0x80) n = 0;
    else if (c >= 0xc2 && c <= 0xdf) n = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      if (c === 0xe0) lo = 0xa0;
      if (c === 0xed) hi = 0x9f; // no UTF-16 surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      if (c === 0xf0) lo = 0x90;
      if (c === 0xf4) hi = 0x8f;
    } else return i;
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if (d === undefined || d < (k === 1 ? lo : 0x80) || d > (k === 1 ? hi : 0xbf)) return i;
    }
    i += n + 1;
  }
  return -1;
}
