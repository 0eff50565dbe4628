import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { cardScanned, ndjson } from '../support/events';
import { readOutputs } from '../support/replay';

/** The built command, as `npm ci` (prepare → build) leaves it. */
const CLI = resolve(__dirname, '../../dist/cli/event-recovery.js');

function run(args: string[], input?: string) {
  const result = spawnSync(process.execPath, [CLI, ...args], { input, encoding: 'utf8', timeout: 30_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('the event-recovery command', () => {
  let dir: string;
  beforeAll(() => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build (npm ci does it)`);
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cli-test-'));
  });

  it('replays a file, writes the three outputs and exits 0', () => {
    const input = join(dir, 'in.ndjson');
    writeFileSync(input, ndjson(cardScanned({ id: 'a' }), cardScanned({ id: 'a' }), 'oops'));
    const out = join(dir, 'out');
    const r = run(['replay', input, '--out', out, '--now', '2026-03-01T12:00:00Z', '--quiet']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/replay: 3 lines: 1 accepted, 1 invalid, 1 duplicates/);
    const outputs = readOutputs(out);
    expect(outputs.findings.map((f) => [f.kind, f.line])).toEqual([
      ['duplicate', 2],
      ['invalid', 3],
    ]);
    expect(outputs.summary).toMatchObject({ lines: 3, accepted: 1 });
  });

  it('reads standard input when the input is -', () => {
    const out = join(dir, 'out');
    const r = run(['replay', '-', '--out', out, '--now', '2026-03-01T12:00:00Z'], ndjson(cardScanned({ id: 'a' })));
    expect(r.code).toBe(0);
    expect(readOutputs(out).events.map((e) => e.id)).toEqual(['a']);
  });

  it.each([
    ['a missing input file', ['replay', 'no-such-file.ndjson'], /^event-recovery: cannot read input no-such-file.ndjson: no such file or directory\n$/],
    ['no input', ['replay'], /^event-recovery: missing input/],
    ['an unknown option', ['replay', 'x', '--frobnicate'], /^event-recovery: Unknown option '--frobnicate'/],
    ['an unknown command', ['replya', 'x'], /^event-recovery: unknown command "replya"/],
    ['a bad --now', ['replay', '-', '--now', 'yesterday'], /^event-recovery: --now must be an RFC 3339/],
  ])('exits 2 with one clear line for %s', (_name, args, message) => {
    const r = run(args, '');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('exits 2 for a directory as input and for an unreadable or malformed rates file', () => {
    expect(run(['replay', dir]).stderr).toMatch(/it is a directory/);
    const rates = join(dir, 'rates.json');
    writeFileSync(rates, '{"base":"EUR","days":{}}');
    const r = run(['replay', '-', '--rates', rates], '');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/rates .* at base: must be "USD"/);
    expect(run(['replay', '-', '--rates', join(dir, 'none.json')], '').stderr).toMatch(/cannot read rates/);
  });

  it('event-recovery --help lists the commands without appending any one command\'s whole help (issue 20.11)', () => {
    const r = run(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: event-recovery <command>/);
    for (const command of ['replay', 'dlq', 'publish', 'generate']) expect(r.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
    expect(r.stdout).not.toMatch(/--rates FILE/);
    expect(r.stdout).not.toMatch(/Usage: event-recovery replay/);
  });

  it('--help explains the command and exits 0', () => {
    const r = run(['replay', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Usage: event-recovery replay <events.ndjson\[\.gz\] \| ->/);
    expect(r.stdout).toMatch(/--rates FILE/);
  });
});
