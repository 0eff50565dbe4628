import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LineBytesWriter } from '../../cli/replay/line-writer';

/** events.ndjson's writer copies byte ranges: runs of adjacent lines at once, every other line alone. */
describe('LineBytesWriter', () => {
  const file = () => join(mkdtempSync(join(tmpdir(), 'line-writer-')), 'events.ndjson');
  /** Where each line of `text` lies (its LF or CR LF left out). */
  const ranges = (bytes: Buffer): Array<[number, number]> => {
    const out: Array<[number, number]> = [];
    for (let start = 0; start < bytes.length; ) {
      let nl = bytes.indexOf(10, start);
      if (nl === -1) nl = bytes.length;
      out.push([start, bytes[nl - 1] === 13 ? nl - 1 : nl]);
      start = nl + 1;
    }
    return out;
  };

  it.each([
    ['adjacent LF lines, one run', 'a\nbb\nccc\n', [0, 1, 2], 'a\nbb\nccc\n', 1 << 20],
    ['lines left out break the run', 'a\nskip\nb\nc\nskip\nd', [0, 2, 3, 5], 'a\nb\nc\nd\n', 1 << 20],
    ['CRLF lines: written with LF', 'a\r\nb\r\nc\n', [0, 1, 2], 'a\nb\nc\n', 1 << 20],
    ['a last line without a newline', 'a\nb', [0, 1], 'a\nb\n', 1 << 20],
    ['blocks smaller than the runs, and than one line', 'héllo\nworld\n0123456789abcdef\nend\n', [0, 1, 2, 3], 'héllo\nworld\n0123456789abcdef\nend\n', 8],
  ])('%s', async (_name, input, take, expected, block) => {
    const bytes = Buffer.from(input);
    const path = file();
    const w = new LineBytesWriter(path, block);
    const r = ranges(bytes);
    for (const i of take) w.line(bytes, r[i]![0], r[i]![1]);
    await w.close();
    expect(readFileSync(path, 'utf8')).toBe(expected);
    expect(w.count).toBe(take.length);
  });

  it('does not join lines of different buffers, even at matching offsets', async () => {
    const a = Buffer.from('ab\ncd\n');
    const b = Buffer.from('xy\nzw\n');
    const path = file();
    const w = new LineBytesWriter(path);
    w.line(a, 0, 2);
    w.line(b, 3, 5);
    w.line(a, 3, 5);
    await w.close();
    expect(readFileSync(path, 'utf8')).toBe('ab\nzw\ncd\n');
  });

  it('keeps the file in order while many blocks are being written at once, and past the blocks it lets the thread pool hold', async () => {
    const lines = Array.from({ length: 5000 }, (_, i) => `{"n":${i},"pad":"${'x'.repeat(i % 37)}"}`);
    const bytes = Buffer.from(lines.join('\n'));
    const path = file();
    const w = new LineBytesWriter(path, 256);
    // Every other line: no runs, many small blocks handed out before any write has finished.
    const r = ranges(bytes);
    for (let i = 0; i < r.length; i += 2) w.line(bytes, r[i]![0], r[i]![1]);
    await w.close();
    expect(readFileSync(path, 'utf8')).toBe(`${lines.filter((_, i) => i % 2 === 0).join('\n')}\n`);
  });

  it('reports a write that failed, naming the file: one of the thread pool\'s from close, one of its own at once', async () => {
    const line = Buffer.from('0123456789\n0123456789abcdef0123456789\n');
    const pooled = new LineBytesWriter('/dev/full', 16);
    pooled.line(line, 0, 10);
    pooled.line(Buffer.from(line), 0, 10); // not a run: the first line's block is full, handed to the thread pool
    await expect(pooled.close()).rejects.toMatchObject({ code: 'ENOSPC', path: '/dev/full' });
    await expect(pooled.close()).resolves.toBeUndefined();
    const own = new LineBytesWriter('/dev/full', 16);
    own.line(line, 11, 37); // over a block: written at once when the run ends
    // (withPath names the file of this one: under jest, Node's own errors are not instanceof the test's Error.)
    expect(() => own.line(line, 0, 10)).toThrow(expect.objectContaining({ code: 'ENOSPC' }));
    await expect(own.close()).rejects.toMatchObject({ code: 'ENOSPC' });
  });
});
