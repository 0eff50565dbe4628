import { lineAt, linesOf, MAX_BATCH_LINES, readLineBatches, readLines, textOf, textStart, type Line, type LineBatch } from '../../cli/replay/lines';

async function collect(chunks: Array<string | Buffer>, max?: number): Promise<Line[]> {
  const out: Line[] = [];
  for await (const batch of readLines((async function* () { yield* chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c)); })(), max)) out.push(...batch);
  return out;
}

function bytewise(text: string): Buffer[] {
  return [...Buffer.from(text)].map((b) => Buffer.from([b]));
}

describe('line splitting for replay', () => {
  it.each<[string, string[], Line[]]>([
    ['empty input', [], []],
    ['LF lines', ['a\nb\n'], [{ number: 1, text: 'a' }, { number: 2, text: 'b' }]],
    ['CRLF lines', ['a\r\nb\r\n'], [{ number: 1, text: 'a' }, { number: 2, text: 'b' }]],
    ['no final newline', ['a\nb'], [{ number: 1, text: 'a' }, { number: 2, text: 'b' }]],
    ['blank lines count', ['\n\na\n'], [{ number: 1, text: '' }, { number: 2, text: '' }, { number: 3, text: 'a' }]],
    ['a byte-order mark is dropped', ['\uFEFFa\n'], [{ number: 1, text: 'a' }]],
    ['lines across chunks', ['ab', 'c\nd', 'e\r', '\nf'], [{ number: 1, text: 'abc' }, { number: 2, text: 'de' }, { number: 3, text: 'f' }]],
  ])('%s', async (_name, chunks, expected) => {
    expect(await collect(chunks)).toEqual(expected);
  });

  it('gives the same lines when the input arrives a byte at a time', async () => {
    const text = 'héllo\r\n{"a":1}\n\nlast';
    expect(await collect(bytewise(text))).toEqual(await collect([text]));
  });

  it('reports a line over the limit with its length and goes on, in one chunk or many', async () => {
    const long = 'x'.repeat(30);
    const expected = [{ number: 1, text: 'ok' }, { number: 2, tooLong: 30 }, { number: 3, text: 'after' }];
    expect(await collect([`ok\n${long}\nafter\n`], 10)).toEqual(expected);
    expect(await collect(bytewise(`ok\n${long}\nafter\n`), 10)).toEqual(expected);
    expect(await collect(['ok\n', long.slice(0, 12), long.slice(12), '\nafter'], 10)).toEqual(expected);
  });

  it('a line of exactly the limit is kept, CR not counted', async () => {
    expect(await collect(['0123456789\r\n'], 10)).toEqual([{ number: 1, text: '0123456789' }]);
    expect(await collect(bytewise('0123456789\r\n'), 10)).toEqual([{ number: 1, text: '0123456789' }]);
  });

  it('reports a line that is not UTF-8 instead of rewriting its bytes to U+FFFD, in one chunk or many', async () => {
    const bytes = Buffer.concat([Buffer.from('ok\n{"id":"a'), Buffer.from([0xc3, 0x28]), Buffer.from('"}\nafter\n')]);
    const expected = [{ number: 1, text: 'ok' }, { number: 2, invalid: 'line is not valid UTF-8 (at byte 8)' }, { number: 3, text: 'after' }];
    expect(await collect([bytes])).toEqual(expected);
    expect(await collect([...bytes].map((b) => Buffer.from([b])))).toEqual(expected);
  });

  it('keeps valid UTF-8, U+FFFD itself included', async () => {
    expect(await collect(['\uFFFD é 😀\n'])).toEqual([{ number: 1, text: '\uFFFD é 😀' }]);
  });

  it('notes carriage returns without line feeds (a CR-only file is one line)', async () => {
    const note = 'the line holds 2 carriage returns not followed by a line feed: lines must end with LF or CRLF';
    expect(await collect(['a\rb\rc\n'])).toEqual([{ number: 1, text: 'a\rb\rc', note }]);
    expect(await collect(bytewise('a\rb\rc'))).toEqual([{ number: 1, text: 'a\rb\rc', note }]);
    const one = note.replace('2 carriage returns', '1 carriage return');
    expect(await collect([`${'x'.repeat(20)}\r${'y'.repeat(20)}\r`], 10)).toEqual([{ number: 1, tooLong: 42, note: one }]);
    expect(await collect(bytewise(`${'x'.repeat(20)}\r${'y'.repeat(20)}\r`), 10)).toEqual([{ number: 1, tooLong: 42, note: one }]);
    expect(await collect([`${'x'.repeat(20)}\r${'y'.repeat(20)}\r\r\n`], 10)).toEqual([{ number: 1, tooLong: 42, note }]);
    expect(await collect(['a\r\nb\r\n'])).toEqual([{ number: 1, text: 'a' }, { number: 2, text: 'b' }]);
  });

  it('cuts a chunk into batches of at most the batch size, the lines and their numbers unchanged', async () => {
    const text = Array.from({ length: 10 }, (_, i) => `line ${i + 1}`).join('\n');
    const batches = async (chunks: string[], size?: number) => {
      const sizes: number[] = [];
      const lines: Line[] = [];
      for await (const batch of readLines((async function* () { yield* chunks.map((c) => Buffer.from(c)); })(), undefined, size)) {
        sizes.push(batch.length);
        lines.push(...batch);
      }
      return { sizes, lines };
    };
    const whole = await batches([`${text}\n`]);
    expect(whole.sizes).toEqual([10]);
    expect(whole.lines.map((l) => [l.number, l.text])).toEqual(Array.from({ length: 10 }, (_, i) => [i + 1, `line ${i + 1}`]));
    // A last line without a newline ends with the input, in a batch of its own.
    expect(await batches([text], 3)).toEqual({ sizes: [3, 3, 3, 1], lines: whole.lines });
    expect(await batches([text])).toEqual({ sizes: [9, 1], lines: whole.lines });
    // A line across two chunks after a full batch, and a batch size the chunk ends on.
    expect(await batches(['line 1\nline 2\nline 3\nli', 'ne 4\nline 5\nline 6\nline 7\nline 8\nline 9\nline 10'], 3)).toEqual({ sizes: [3, 3, 3, 1], lines: whole.lines });
    expect(await batches([`${text}\n`], 5)).toEqual({ sizes: [5, 5], lines: whole.lines });
  });

  it('makes batches of MAX_BATCH_LINES by default: a line becomes text when its batch is taken', async () => {
    const n = MAX_BATCH_LINES * 2 + 5;
    const sizes: number[] = [];
    for await (const batch of readLines((async function* () { yield Buffer.from('x\n'.repeat(n)); })())) sizes.push(batch.length);
    expect(sizes).toEqual([MAX_BATCH_LINES, MAX_BATCH_LINES, 5]);
  });
});

describe('line batches as bytes (what a worker is handed)', () => {
  async function batchesOf(chunks: Array<string | Buffer>, max?: number, size?: number): Promise<LineBatch[]> {
    const out: LineBatch[] = [];
    for await (const batch of readLineBatches((async function* () { yield* chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c)); })(), max, size)) out.push(batch);
    return out;
  }

  it('hold their bytes in a SharedArrayBuffer, each line whole in its batch, even across chunks', async () => {
    const batches = await batchesOf(['ab', 'c\nd', 'e\r', '\nf\n'], undefined, 2);
    for (const b of batches) expect(b.bytes.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(batches.map((b) => [b.first, b.length, linesOf(b).map((l) => l.text)])).toEqual([
      [1, 1, ['abc']],
      [2, 2, ['de', 'f']],
    ]);
  });

  it('give a line\'s text from its bytes: textOf is lineAt\'s text, and textStart leaves out only the input\'s own byte-order mark', async () => {
    const text = '\uFEFF{"a":"é"}\r\n\uFEFF{"b":1}\nplain 😀\n';
    const [batch] = await batchesOf([text]);
    expect(linesOf(batch!).map((l) => l.text)).toEqual(['{"a":"é"}', '\uFEFF{"b":1}', 'plain 😀']);
    for (let i = 0; i < batch!.length; i++) {
      expect(textOf(batch!, i)).toBe(lineAt(batch!, i).text);
      // The bytes events.ndjson copies are the text's UTF-8.
      expect(batch!.bytes.subarray(textStart(batch!, i), batch!.bounds[2 * i + 1]).toString('utf8')).toBe(lineAt(batch!, i).text);
    }
  });

  it('drop the byte-order mark of the first line of text only, after a line too long to keep', async () => {
    const [batch] = await batchesOf([`${'x'.repeat(20)}\n\uFEFFa\n\uFEFFb\n`], 10);
    expect(linesOf(batch!)).toEqual([{ number: 1, tooLong: 20 }, { number: 2, text: 'a' }, { number: 3, text: '\uFEFFb' }]);
  });
});
