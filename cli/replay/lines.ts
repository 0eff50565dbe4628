import { firstInvalidByte, isUtf8, notUtf8Reason } from '../../shared/events/utf8';

/**
 * One input line: its 1-based number and text; or the fact that it was too long to keep; or why
 * its bytes are not a line of text at all. `note` says what a person should know about the line
 * if it turns out invalid (carriage returns with no line feed: a CR-only file is one line).
 */
export type Line =
  | { readonly number: number; readonly text: string; readonly tooLong?: undefined; readonly invalid?: undefined; readonly note?: string }
  | { readonly number: number; readonly text?: undefined; readonly tooLong: number; readonly invalid?: undefined; readonly note?: string }
  | { readonly number: number; readonly text?: undefined; readonly tooLong?: undefined; readonly invalid: string; readonly note?: undefined };

export const MAX_LINE_BYTES = 1024 * 1024;

/**
 * Lines a batch holds at most. A line's text is made when its batch is taken, not when its chunk
 * (1 MiB, about 3,700 generated events) arrives: with a worker, a whole chunk's texts lived long
 * enough to be promoted to V8's old generation, about half of the main thread's 93 MiB promoted
 * on 200,000 events (measured with --trace-gc-nvp: 50 MiB with batches of 1,024).
 */
export const MAX_BATCH_LINES = 1024;

const CR = 13;
const LF = 10;

/**
 * Splits a byte stream into batches of at most `batchLines` lines, without ever holding more
 * than one line beyond its chunk (and at most `maxBytes` of it): a longer line is reported with
 * its length and skipped. Accepts LF and CRLF, strips a leading UTF-8 byte-order mark. A final line without a newline still counts; the
 * newline that ends the file does not start another. A line that is not UTF-8 is reported as
 * such, never decoded with U+FFFD in place of its bytes.
 */
export async function* readLines(
  stream: AsyncIterable<Buffer | string>,
  maxBytes = MAX_LINE_BYTES,
  batchLines = MAX_BATCH_LINES,
): AsyncGenerator<Line[]> {
  let number = 0;
  let parts: Buffer[] = [];
  let partBytes = 0;
  let overflow = 0; // bytes of the current line once it is over the limit
  let overflowCrs = 0; // carriage returns in those bytes
  let first = true;

  const lineOf = (n: number, buf: Buffer): Line => {
    let text = buf.toString('utf8');
    if (first) {
      first = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    // Only text that holds U+FFFD can have been rewritten: the common case costs one scan.
    if (text.indexOf('\uFFFD') !== -1 && !isUtf8(buf)) return { number: n, invalid: `line ${notUtf8Reason(firstInvalidByte(buf))}` };
    if (buf.indexOf(CR) === -1) return { number: n, text };
    const crs = count(buf, CR);
    return { number: n, text, note: crNote(crs) };
  };

  const tooLong = (n: number, bytes: number, crs: number): Line => (crs > 0 ? { number: n, tooLong: bytes, note: crNote(crs) } : { number: n, tooLong: bytes });

  /** Ends the line held in `parts`/`overflow` plus `tail` (a LF, or the end of input, ended it). */
  const finish = (out: Line[], tail: Buffer | undefined) => {
    number++;
    if (overflow > 0) {
      const bytes = overflow + (tail?.length ?? 0);
      let crs = overflowCrs + (tail ? count(tail, CR) : 0);
      // A CR that ends the line (before its LF, or at the end of input) is a line ending.
      const last = tail && tail.length > 0 ? tail[tail.length - 1] : lastByte;
      if (last === CR) crs--;
      out.push(tooLong(number, bytes, crs));
    } else {
      let buf = parts.length === 0 ? (tail ?? Buffer.alloc(0)) : Buffer.concat(tail ? [...parts, tail] : parts);
      if (buf.length > 0 && buf[buf.length - 1] === CR) buf = buf.subarray(0, buf.length - 1);
      if (buf.length > maxBytes) out.push(tooLong(number, buf.length, count(buf, CR)));
      else out.push(lineOf(number, buf));
    }
    parts = [];
    partBytes = 0;
    overflow = 0;
    overflowCrs = 0;
  };

  let lastByte: number | undefined; // the last byte of the pending part of a line
  for await (const raw of stream) {
    const chunk = typeof raw === 'string' ? Buffer.from(raw) : raw;
    let out: Line[] = [];
    let start = 0;
    for (;;) {
      if (out.length >= batchLines) {
        yield out;
        out = [];
      }
      const nl = chunk.indexOf(LF, start);
      if (nl === -1) break;
      if (parts.length === 0 && overflow === 0) {
        // Fast path: the whole line is inside this chunk.
        number++;
        let end = nl;
        if (end > start && chunk[end - 1] === CR) end--;
        if (end - start > maxBytes) out.push(tooLong(number, end - start, count(chunk.subarray(start, end), CR)));
        else out.push(lineOf(number, chunk.subarray(start, end)));
      } else {
        finish(out, chunk.subarray(start, nl));
      }
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      lastByte = rest[rest.length - 1];
      if (overflow > 0 || partBytes + rest.length > maxBytes + 1) {
        overflow += partBytes + rest.length;
        for (const p of parts) overflowCrs += count(p, CR);
        overflowCrs += count(rest, CR);
        parts = [];
        partBytes = 0;
      } else {
        parts.push(Buffer.from(rest)); // copy: the stream may reuse its buffer
        partBytes += rest.length;
      }
    }
    if (out.length > 0) yield out;
  }
  if (parts.length > 0 || overflow > 0) {
    const out: Line[] = [];
    finish(out, undefined);
    yield out;
  }
}

function count(buf: Buffer, byte: number): number {
  let n = 0;
  for (let i = buf.indexOf(byte); i !== -1; i = buf.indexOf(byte, i + 1)) n++;
  return n;
}

function crNote(crs: number): string {
  return `the line holds ${crs} carriage return${crs === 1 ? '' : 's'} not followed by a line feed: lines must end with LF or CRLF`;
}
