/** One input line: its 1-based number and text, or the fact that it was too long to keep. */
export type Line =
  | { readonly number: number; readonly text: string; readonly tooLong?: undefined }
  | { readonly number: number; readonly text?: undefined; readonly tooLong: number };

export const MAX_LINE_BYTES = 1024 * 1024;

/**
 * Splits a byte stream into lines without ever holding more than one line (and at most
 * `maxBytes` of it): a longer line is reported with its length and skipped. Accepts LF and CRLF,
 * strips a leading UTF-8 byte-order mark. A final line without a newline still counts; the
 * newline that ends the file does not start another.
 */
export async function* readLines(
  stream: AsyncIterable<Buffer | string>,
  maxBytes = MAX_LINE_BYTES,
): AsyncGenerator<Line[]> {
  let number = 0;
  let parts: Buffer[] = [];
  let partBytes = 0;
  let overflow = 0; // bytes of the current line once it is over the limit
  let first = true;

  const finish = (out: Line[], tail: Buffer | undefined) => {
    number++;
    if (overflow > 0) {
      out.push({ number, tooLong: overflow + (tail?.length ?? 0) });
    } else {
      let buf = parts.length === 0 ? (tail ?? Buffer.alloc(0)) : Buffer.concat(tail ? [...parts, tail] : parts);
      if (buf.length > 0 && buf[buf.length - 1] === 13) buf = buf.subarray(0, buf.length - 1);
      if (buf.length > maxBytes) out.push({ number, tooLong: buf.length });
      else out.push({ number, text: decode(buf) });
    }
    parts = [];
    partBytes = 0;
    overflow = 0;
  };

  const decode = (buf: Buffer) => {
    let text = buf.toString('utf8');
    if (first) {
      first = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    return text;
  };

  for await (const raw of stream) {
    const chunk = typeof raw === 'string' ? Buffer.from(raw) : raw;
    const out: Line[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl === -1) break;
      if (parts.length === 0 && overflow === 0) {
        // Fast path: the whole line is inside this chunk.
        number++;
        let end = nl;
        if (end > start && chunk[end - 1] === 13) end--;
        if (end - start > maxBytes) out.push({ number, tooLong: end - start });
        else out.push({ number, text: decode(chunk.subarray(start, end)) });
      } else {
        finish(out, chunk.subarray(start, nl));
      }
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      if (overflow > 0 || partBytes + rest.length > maxBytes + 1) {
        overflow += partBytes + rest.length;
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
