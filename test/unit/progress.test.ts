import { progressReporter, progressText, type ProgressState } from '../../cli/replay/progress';

describe('replay progress', () => {
  it.each<[string, ProgressState, string]>([
    ['standard input: count and rate', { lines: 120_000, elapsedMs: 2000 }, 'replay: 120,000 lines, 60,000 lines/s'],
    ['a file: percentage and time left', { lines: 120_000, elapsedMs: 2000, bytes: 25, totalBytes: 100 }, 'replay: 120,000 lines, 60,000 lines/s, 25 % of input, about 0:06 left'],
    ['hours left', { lines: 1, elapsedMs: 3_600_000, bytes: 1, totalBytes: 3 }, 'replay: 1 lines, 0 lines/s, 33 % of input, about 2:00:00 left'],
    ['nothing read yet', { lines: 0, elapsedMs: 0, bytes: 0, totalBytes: 100 }, 'replay: 0 lines, 0 lines/s, 0 % of input'],
    ['an empty file', { lines: 0, elapsedMs: 10, bytes: 0, totalBytes: 0 }, 'replay: 0 lines, 0 lines/s'],
  ])('%s', (_name, state, text) => {
    expect(progressText(state)).toBe(text);
  });

  function fake(mode: 'auto' | 'always' | 'never', tty: boolean) {
    let t = 0;
    const out: string[] = [];
    const p = progressReporter({ mode, tty, write: (s) => out.push(s), clock: () => t, sizes: () => ({ bytes: 50, totalBytes: 100 }) });
    for (let i = 1; i <= 100; i++) {
      t += 1000;
      p.update(i * 1000);
    }
    p.done();
    return out;
  }

  it.each([
    ['auto on a terminal: redrawn in place', 'auto', true, (out: string[]) => out.length >= 90 && out.every((s) => s.startsWith('\r'))],
    ['auto off a terminal: silent', 'auto', false, (out: string[]) => out.length === 0],
    ['always off a terminal: a line every 10 s', 'always', false, (out: string[]) => out.length === 10 && out.every((s) => s.endsWith('\n') && s.includes('50 % of input'))],
    ['never: silent even on a terminal', 'never', true, (out: string[]) => out.length === 0],
  ] as const)('%s', (_name, mode, tty, check) => {
    const out = fake(mode, tty);
    expect(check(out) ? 'as expected' : JSON.stringify(out.slice(0, 3))).toBe('as expected');
  });
});
