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
 * Lines a batch holds at most: the unit of work a worker takes, so that a worker starts on a
 * chunk (1 MiB, about 3,700 generated events) before the main thread has read all of it.
 */
export const MAX_BATCH_LINES = 1024;

/** A line too long to keep: its length in bytes, and its note about carriage returns. */
export interface LongLine {
  readonly tooLong: number;
  readonly note?: string;
}

/**
 * Consecutive input lines as the bytes they came in, not yet text: what the main thread hands
 * a worker. `bytes` lies in a SharedArrayBuffer, so posting a batch to a worker copies no line
 * (a structured clone copied every line's text, 5 % of the main thread's profile), and the main
 * thread still writes an accepted line's bytes to events.ndjson without decoding and encoding it.
 * `lineAt` makes a line's text when it is needed: in the worker, or on the main thread for the
 * few events a rule reads whole.
 */
export interface LineBatch {
  readonly bytes: Buffer;
  /** The number of its first line; the others follow. */
  readonly first: number;
  readonly length: number;
  /** Line i's bytes are `bytes[bounds[2i], bounds[2i+1])`, without its CR LF or LF. */
  readonly bounds: Int32Array;
  /** The lines too long to keep, by index (their bounds are empty). */
  readonly long?: ReadonlyMap<number, LongLine>;
  /** The index of the input's first line of text, where a leading byte-order mark is dropped; -1 when not in this batch. */
  readonly bom: number;
}

const CR = 13;
const LF = 10;

/**
 * Splits a byte stream into batches of at most `batchLines` lines, without ever holding more
 * than one line beyond its chunk (and at most `maxBytes` of it): a longer line is reported with
 * its length and skipped. Accepts LF and CRLF; `lineAt` strips a leading UTF-8 byte-order mark.
 * A final line without a newline still counts; the newline that ends the file does not start
 * another. Each chunk is copied once, with the start of a line the previous one ended in, into
 * a SharedArrayBuffer that its batches share, so every line lies in one batch's bytes.
 */
export async function* readLineBatches(
  stream: AsyncIterable<Buffer | string>,
  maxBytes = MAX_LINE_BYTES,
  batchLines = MAX_BATCH_LINES,
): AsyncGenerator<LineBatch> {
  let carry: Buffer | undefined; // the start of a line the last chunk ended in, when it is kept
  let overflow = 0; // bytes of the current line once it is over the limit (not kept)
  let overflowCrs = 0; // carriage returns in those bytes
  let lastByte: number | undefined; // the last byte of the current line's part in earlier chunks
  let bomPending = true; // the input's first line of text is not yet seen

  let bytes: Buffer = Buffer.alloc(0);
  let first = 1;
  let bounds = new Int32Array(2 * batchLines);
  let length = 0;
  let long: Map<number, LongLine> | undefined;
  let bom = -1;

  const push = (start: number, end: number) => {
    if (bomPending) {
      bomPending = false;
      bom = length;
    }
    bounds[2 * length] = start;
    bounds[2 * length + 1] = end;
    length++;
  };
  const pushLong = (bytesLong: number, crs: number) => {
    (long ??= new Map()).set(length, crs > 0 ? { tooLong: bytesLong, note: crNote(crs) } : { tooLong: bytesLong });
    bounds[2 * length] = 0;
    bounds[2 * length + 1] = 0;
    length++;
  };
  const take = (): LineBatch => {
    const batch: LineBatch = { bytes, first, length, bounds: bounds.subarray(0, 2 * length), ...(long ? { long } : {}), bom };
    first += length;
    bounds = new Int32Array(2 * batchLines);
    length = 0;
    long = undefined;
    bom = -1;
    return batch;
  };
  /** A line that ends at `end` (its LF, or the end of input) and starts at `start` of `bytes`, or before them when it overflowed. */
  const finish = (start: number, end: number) => {
    if (overflow > 0) {
      const size = overflow + (end - start);
      let crs = overflowCrs + count(bytes, CR, start, end);
      // A CR that ends the line (before its LF, or at the end of input) is a line ending.
      const last = end > start ? bytes[end - 1] : lastByte;
      if (last === CR) crs--;
      pushLong(size, crs);
      overflow = 0;
      overflowCrs = 0;
      return;
    }
    let stop = end;
    if (stop > start && bytes[stop - 1] === CR) stop--;
    if (stop - start > maxBytes) pushLong(stop - start, count(bytes, CR, start, stop));
    else push(start, stop);
  };

  for await (const raw of stream) {
    const chunk = typeof raw === 'string' ? Buffer.from(raw) : raw;
    const held = carry?.length ?? 0;
    bytes = Buffer.from(new SharedArrayBuffer(held + chunk.length));
    if (carry) bytes.set(carry);
    bytes.set(chunk, held);
    carry = undefined;
    let start = 0;
    for (let from = held; ; ) {
      if (length >= batchLines) yield take();
      const nl = bytes.indexOf(LF, from);
      if (nl === -1) break;
      finish(start, nl);
      start = nl + 1;
      from = start;
    }
    if (start < bytes.length) {
      const rest = bytes.length - start;
      lastByte = bytes[bytes.length - 1];
      if (overflow > 0 || rest > maxBytes + 1) {
        overflow += rest;
        overflowCrs += count(bytes, CR, start, bytes.length);
      } else {
        carry = bytes.subarray(start);
      }
    }
    if (length > 0) yield take();
  }
  if (carry || overflow > 0) {
    // The last line, without a newline: alone in the bytes of its own batch.
    bytes = carry ?? Buffer.alloc(0);
    finish(0, bytes.length);
    yield take();
  }
}

/**
 * Line `i` of a batch, as text: decoded strictly (a line that is not UTF-8 is reported as such,
 * never decoded with U+FFFD in place of its bytes), with the input's leading byte-order mark dropped.
 */
export function lineAt(batch: LineBatch, i: number): Line {
  const number = batch.first + i;
  const long = batch.long?.get(i);
  if (long !== undefined) return long.note === undefined ? { number, tooLong: long.tooLong } : { number, tooLong: long.tooLong, note: long.note };
  const start = batch.bounds[2 * i]!;
  const end = batch.bounds[2 * i + 1]!;
  let text = batch.bytes.toString('utf8', start, end);
  if (i === batch.bom && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  // Only text that holds U+FFFD can have been rewritten: the common case costs one scan.
  if (text.indexOf('\uFFFD') !== -1) {
    const line = batch.bytes.subarray(start, end);
    if (!isUtf8(line)) return { number, invalid: `line ${notUtf8Reason(firstInvalidByte(line))}` };
  }
  // A CR is one byte that no other UTF-8 sequence contains: the text holds as many as the bytes.
  if (text.indexOf('\r') === -1) return { number, text };
  let crs = 0;
  for (let at = text.indexOf('\r'); at !== -1; at = text.indexOf('\r', at + 1)) crs++;
  return { number, text, note: crNote(crs) };
}

/**
 * Where line `i`'s text lies in `batch.bytes` (the byte-order mark of the input's first line
 * left out): the bytes events.ndjson copies for an accepted line, which is valid UTF-8.
 */
export function textStart(batch: LineBatch, i: number): number {
  const start = batch.bounds[2 * i]!;
  const b = batch.bytes;
  return i === batch.bom && b[start] === 0xef && b[start + 1] === 0xbb && b[start + 2] === 0xbf ? start + 3 : start;
}

/** The text of line `i`, a line known to be valid UTF-8 (a valid event's): what `lineAt` gives, decoded again. */
export function textOf(batch: LineBatch, i: number): string {
  return batch.bytes.toString('utf8', textStart(batch, i), batch.bounds[2 * i + 1]!);
}

/**
 * A batch that came through a worker's message port: its bytes arrive as a plain Uint8Array
 * over the same SharedArrayBuffer (a structured clone does not keep Buffer's prototype).
 */
export function received(batch: LineBatch): LineBatch {
  const b = batch.bytes as Uint8Array;
  return { ...batch, bytes: Buffer.from(b.buffer, b.byteOffset, b.byteLength) };
}

/** Every line of `batch` as text (the single-threaded path and tests). */
export function linesOf(batch: LineBatch): Line[] {
  return Array.from({ length: batch.length }, (_, i) => lineAt(batch, i));
}

/** The lines of a byte stream as text, in batches (see `readLineBatches`). */
export async function* readLines(stream: AsyncIterable<Buffer | string>, maxBytes = MAX_LINE_BYTES, batchLines = MAX_BATCH_LINES): AsyncGenerator<Line[]> {
  for await (const batch of readLineBatches(stream, maxBytes, batchLines)) yield linesOf(batch);
}

function count(bytes: Buffer, byte: number, start: number, end: number): number {
  let n = 0;
  for (let i = bytes.indexOf(byte, start); i !== -1 && i < end; i = bytes.indexOf(byte, i + 1)) n++;
  return n;
}

function crNote(crs: number): string {
  return `the line holds ${crs} carriage return${crs === 1 ? '' : 's'} not followed by a line feed: lines must end with LF or CRLF`;
}
