import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlockWriter } from '../../cli/replay/output';

/**
 * Replay's output files: each line encoded into a reused block as it comes must give the bytes
 * of the lines joined and encoded at once, whatever the characters and wherever a block ends.
 */
describe('BlockWriter', () => {
  const dir = mkdtempSync(join(tmpdir(), 'block-writer-'));

  const lines = [
    '{"id":"plain"}',
    'caf\u00e9 \u6f22\u5b57 \ud83d\ude00',
    // Lone surrogates (the fuzz corpus has them): each is written as U+FFFD, as a whole-text encode does.
    'lone \ud83d high, lone \ude00 low, reversed \ude00\ud83d',
    'ends with a high surrogate \ud83d',
    '\ude00 starts with a low surrogate',
    '\u2028\u0000\t"\\',
    '',
  ];

  it.each([
    ['blocks larger than the output', 1 << 20],
    ['a block ending inside almost every line', 17],
    ['a block smaller than most lines', 8],
  ])('writes the lines as one encode of their text would, %s', (_name, blockBytes) => {
    const path = join(dir, `out-${blockBytes}.ndjson`);
    const writer = new BlockWriter(path, blockBytes);
    const written: string[] = [];
    for (let round = 0; round < 50; round++) {
      for (const line of lines) {
        const text = `${round}:${line}`.repeat(1 + (round % 4));
        writer.line(text);
        written.push(text);
      }
    }
    writer.close();
    expect(writer.count).toBe(written.length);
    expect(readFileSync(path).equals(Buffer.from(`${written.join('\n')}\n`))).toBe(true);
  });
});
