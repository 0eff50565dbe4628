import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { cardScanned, ndjson } from '../support/events';

/** The built command, as `npm ci` (prepare → build) leaves it. */
const CLI = resolve(__dirname, '../../dist/cli/event-recovery.js');
const NOW = ['--now', '2026-03-01T12:00:00Z', '--quiet'];

function run(args: string[], input = '', shellPrefix?: string) {
  const result = shellPrefix
    ? spawnSync('bash', ['-c', `${shellPrefix} exec "$0" "$@"`, process.execPath, CLI, ...args], { input, encoding: 'utf8', timeout: 30_000 })
    : spawnSync(process.execPath, [CLI, ...args], { input, encoding: 'utf8', timeout: 30_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Exit 2, one line on stderr matching `message`, no stack trace. */
function expectUsageFailure(r: ReturnType<typeof run>, message: RegExp) {
  expect(r.stderr).toMatch(message);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.code).toBe(2);
}

describe('replay output and usage errors: one clear line, exit 2, nothing left behind', () => {
  let dir: string;
  beforeAll(() => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build (npm ci does it)`);
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cli-errors-'));
  });
  const input = ndjson(cardScanned({ id: 'a' }));

  it('--out at an existing file', () => {
    const file = join(dir, 'taken');
    writeFileSync(file, 'x');
    expectUsageFailure(run(['replay', '-', '--out', file, ...NOW], input), /^event-recovery: cannot write to .*taken: it is a file, not a directory \(--out names a directory\)$/m);
    expect(readdirSync(dir)).toEqual(['taken']);
  });

  it('--out under a file', () => {
    const file = join(dir, 'taken');
    writeFileSync(file, 'x');
    expectUsageFailure(run(['replay', '-', '--out', join(file, 'sub', 'out'), ...NOW], input), /^event-recovery: cannot write to .*taken\/sub\/out: a part of the path is a file, not a directory$/m);
    expect(readdirSync(dir)).toEqual(['taken']);
  });

  it('--out in /proc (Node\'s recursive mkdir spins there forever)', () => {
    expectUsageFailure(run(['replay', '-', '--out', '/proc/er-test-out/x', ...NOW], input), /^event-recovery: cannot create \/proc\/er-test-out\/x: no such file or directory$/m);
  });

  it('--out where nobody may write, not even root (/sys)', () => {
    expectUsageFailure(run(['replay', '-', '--out', '/sys/er-test-out', ...NOW], input), /^event-recovery: cannot create \/sys\/er-test-out: (operation not permitted|permission denied)$/m);
  });

  it('a disk that fills up mid-run (a file-size limit makes writes fail the way ENOSPC does): no temp files left', () => {
    const out = join(dir, 'out');
    const many = ndjson(...Array.from({ length: 4000 }, (_, i) => cardScanned({ id: `e${i}`, data: { card_id: `c${i}` } })));
    // Ignoring SIGXFSZ (inherited across exec) turns the limit into EFBIG errors on write.
    const r = run(['replay', '-', '--out', out, ...NOW], many, "trap '' XFSZ; ulimit -f 64;");
    expectUsageFailure(r, /^event-recovery: cannot write .*out\/events\.ndjson: file too large$/m);
    expect(readdirSync(out).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it.each([
    ['an impossible date', '{"base":"USD","days":{"2026-02-30":{"EUR":0.92}}}', /^event-recovery: rates .* at days\.2026-02-30: must be a real date YYYY-MM-DD$/m],
    ['no days', '{"base":"USD","days":{}}', /^event-recovery: rates .* at days: must hold at least one day$/m],
  ])('a rates file with %s', (_name, text, message) => {
    const rates = join(dir, 'rates.json');
    writeFileSync(rates, text);
    const out = join(dir, 'out');
    expectUsageFailure(run(['replay', '-', '--rates', rates, '--out', out, ...NOW], input), message);
    expect(existsSync(out)).toBe(false);
  });

  it('an existing output folder, or a new one several levels down, still works', () => {
    mkdirSync(join(dir, 'exists'));
    expect(run(['replay', '-', '--out', join(dir, 'exists'), ...NOW], input).code).toBe(0);
    expect(run(['replay', '-', '--out', join(dir, 'a', 'b', 'c'), ...NOW], input).code).toBe(0);
    expect(readdirSync(join(dir, 'a', 'b', 'c')).sort()).toEqual(['events.ndjson', 'findings.ndjson', 'summary.json']);
  });
});
