import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readOutputs } from '../support/replay';

const CLI = resolve(__dirname, '../../dist/cli/event-recovery.js');
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });

describe('event-recovery generate', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'generate-test-'));
  });

  it('writes the demo stream with its rates and faults, and replaying it finds what was injected', () => {
    const file = join(dir, 'demo.ndjson');
    const g = cli('generate', '--out', file);
    expect(g.status).toBe(0);
    expect(existsSync(join(dir, 'demo.rates.json')) && existsSync(join(dir, 'demo.faults.json')) && existsSync(join(dir, 'demo.world.json'))).toBe(true);
    const now = /--now (\S+)/.exec(g.stderr)![1]!;
    const r = cli('replay', file, '--rates', join(dir, 'demo.rates.json'), '--now', now, '--out', join(dir, 'out'), '--quiet');
    expect(r.status).toBe(0);
    const { summary } = readOutputs(join(dir, 'out'));
    const faults = JSON.parse(readFileSync(join(dir, 'demo.faults.json'), 'utf8')) as { faults: Array<{ detectedBy: string; expect: Array<{ match: { kind: string } }> }> };
    const expectedInvalid = faults.faults.flatMap((f) => f.expect).filter((e) => e.match.kind === 'invalid').length;
    expect(summary.invalid).toBe(expectedInvalid);
    expect(summary.lines).toBe(readFileSync(file, 'utf8').trim().split('\n').length);
  });

  it('--events N writes N lines, the same for the same seed, to standard output without --out', () => {
    const a = cli('generate', '--events', '500', '--seed', '7');
    const b = cli('generate', '--events', '500', '--seed', '7');
    const c = cli('generate', '--events', '500', '--seed', '8');
    expect(a.status).toBe(0);
    expect(a.stdout.trim().split('\n')).toHaveLength(500);
    expect(a.stdout).toBe(b.stdout);
    expect(a.stdout).not.toBe(c.stdout);
  });

  it('--events N --out FILE writes, beside the log, its rates and the calls the stand-ins must know (FILE.world.json)', () => {
    const file = join(dir, 'log.ndjson');
    const g = cli('generate', '--events', '400', '--seed', '3', '--out', file);
    expect(g.status).toBe(0);
    expect(g.stderr).toContain(join(dir, 'log.world.json'));
    const world = JSON.parse(readFileSync(join(dir, 'log.world.json'), 'utf8')) as { calls: Array<{ sid: string; duration: number }>; paymentIntents: unknown[] };
    const calls = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .flatMap((l) => {
        try {
          const e = JSON.parse(l) as { type?: string; data: { call_sid: string; duration_seconds: number } };
          return e.type === 'call.completed' ? [[e.data.call_sid, e.data.duration_seconds] as const] : [];
        } catch {
          return [];
        }
      });
    expect(calls.length).toBeGreaterThan(10);
    expect(new Map(world.calls.map((c) => [c.sid, c.duration]))).toEqual(new Map(calls));
    expect(existsSync(join(dir, 'log.rates.json'))).toBe(true);
  });

  it.each([
    [['generate', '--events', '0'], /--events must be a positive whole number/],
    [['generate', '--seed', 'x'], /--seed must be/],
    [['generate', 'out.ndjson'], /unexpected argument "out.ndjson"/],
  ])('exits 2 with one line for %p', (args, message) => {
    const r = cli(...args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
