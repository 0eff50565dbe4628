import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { cardScanned, leadCreated, ndjson, saleRecorded } from '../support/events';
import { readOutputs } from '../support/replay';

const CLI = resolve(__dirname, '../../dist/cli/event-recovery.js');
const NOW = '2026-03-01T12:00:00Z';
const VERSION = (JSON.parse(readFileSync(resolve(__dirname, '../../package.json'), 'utf8')) as { version: string }).version;

function run(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [CLI, ...args], { input, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const at = (minute: number) => `2026-03-01T10:${String(minute).padStart(2, '0')}:00Z`;

describe('replay: conventions for scripts and CI', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cli-conv-'));
  });
  const file = (name: string, content: string | Buffer) => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };

  it.each([[['--version']], [['replay', '--version']]])('%p prints the package version and exits 0', (args) => {
    const r = run(args);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${VERSION}\n`);
  });

  it('--json puts the summary alone on stdout and the human report on stderr', () => {
    const out = join(dir, 'out');
    const r = run(['replay', '-', '--out', out, '--now', NOW, '--json'], ndjson(cardScanned({ id: 'a' }), cardScanned({ id: 'a' })));
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(readOutputs(out).summary);
    expect(JSON.parse(r.stdout)).toMatchObject({ lines: 2, accepted: 1, duplicates: 1 });
    expect(r.stderr).toMatch(/^replay: 2 lines: 1 accepted, 0 invalid, 1 duplicates$/m);
  });

  it.each([
    ['a kind that was found', 'duplicate', 1],
    ['one of several kinds', 'gap,duplicate', 1],
    ['any finding', 'any', 1],
    ['a kind that was not found', 'gap,chain_broken', 0],
  ])('--fail-on: %s (%s) exits %p', (_name, kinds, code) => {
    const r = run(['replay', '-', '--out', join(dir, 'out'), '--now', NOW, '--fail-on', kinds], ndjson(cardScanned({ id: 'a' }), cardScanned({ id: 'a' })));
    expect(r.code).toBe(code);
    if (code === 1) expect(r.stderr).toMatch(/^replay: failing \(--fail-on\): found duplicate 1$/m);
    expect(existsSync(join(dir, 'out', 'summary.json'))).toBe(true);
  });

  it.each([
    ['payment_mismatch', /--fail-on payment_mismatch can never fire: the stripe check was skipped: no credentials \(STRIPE_API_KEY\)/],
    ['call_duration_mismatch,duplicate', /--fail-on call_duration_mismatch can never fire: the twilio check was skipped/],
    ['fx_mismatch', /--fail-on fx_mismatch can never fire: the fx check was skipped: no --rates/],
  ])('--fail-on %s without the check configured says the gate can never fire (issue 20.11)', (kinds, warning) => {
    const env = { ...process.env };
    for (const k of ['STRIPE_API_KEY', 'TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN']) delete env[k];
    const r = spawnSync(process.execPath, [CLI, 'replay', '-', '--out', join(dir, 'out'), '--now', NOW, '--fail-on', kinds], { input: ndjson(cardScanned({ id: 'a' })), encoding: 'utf8', timeout: 30_000, env });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(warning);
  });

  it('--fail-on duplicate says nothing about checks that do not bear on it', () => {
    const r = run(['replay', '-', '--out', join(dir, 'out'), '--now', NOW, '--fail-on', 'duplicate'], ndjson(cardScanned({ id: 'a' })));
    expect(r.stderr).not.toMatch(/can never fire/);
  });

  it.each([
    ['--out at an existing file', (d: string) => ['--out', writeAndReturn(join(d, 'taken'))], /cannot write to .*taken: it is a file, not a directory/],
    ['--out under a file', (d: string) => ['--out', join(writeAndReturn(join(d, 'f')), 'sub')], /cannot write to .*f\/sub: .*is a file, not a directory/],
    ['--out under /proc', () => ['--out', '/proc/event-recovery-out'], /cannot create \/proc\/event-recovery-out: no such file or directory/],
    ['--out under /dev/null', () => ['--out', '/dev/null/out'], /cannot write to \/dev\/null\/out: .*is a file, not a directory/],
    ['--html at a folder', (d: string) => ['--html', d], /cannot write .*: it is a directory/],
    ['--fail-on with an unknown kind', () => ['--fail-on', 'gaps'], /--fail-on: unknown kind "gaps"/],
    ['-- two standard inputs', () => ['-'], /standard input \(-\) can be read only once/],
  ])('exits 2 with one line for %s', (_name, extra, message) => {
    const r = run(['replay', '-', '--now', NOW, ...extra(dir)], '');
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.code).toBe(2);
  });

  it('reads several inputs, gzip among them, as one log with line numbers running on', () => {
    const events = [cardScanned({ id: 'a' }), leadCreated({ id: 'b' }), cardScanned({ id: 'a' }), 'oops'];
    const whole = run(['replay', file('all.ndjson', ndjson(...events)), '--out', join(dir, 'whole'), '--now', NOW]);
    const split = run([
      'replay',
      file('one.ndjson.gz', gzipSync(ndjson(...events.slice(0, 2)))),
      file('two.ndjson', ndjson(...events.slice(2)).replace(/\n$/, '')),
      '--out',
      join(dir, 'split'),
      '--now',
      NOW,
    ]);
    expect([whole.code, split.code]).toEqual([0, 0]);
    const a = readOutputs(join(dir, 'whole'));
    const b = readOutputs(join(dir, 'split'));
    expect(b.findings).toEqual(a.findings);
    expect(b.findings.map((f) => [f.kind, f.line])).toEqual([
      ['duplicate', 3],
      ['invalid', 4],
    ]);
    expect(b.events).toEqual(a.events);
    expect(b.summary.lines).toBe(4);
  });

  it('a corrupt gzip input is unreadable input: one line, exit 2, no complete outputs', () => {
    const good = gzipSync(ndjson(...Array.from({ length: 2000 }, (_, i) => cardScanned({ id: `e${i}`, data: { card_id: `c${i}` } }))));
    const r = run(['replay', file('bad.ndjson.gz', good.subarray(0, Math.floor(good.length / 2))), '--out', join(dir, 'out'), '--now', NOW]);
    expect(r.stderr).toMatch(/^event-recovery: cannot read input: not a valid gzip file .* after [\d,]+ lines .*partial outputs: /);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.code).toBe(2);
    expect(existsSync(join(dir, 'out', 'summary.json'))).toBe(false);
  });

  it.each([
    ['a JSON array', `[${JSON.stringify(cardScanned())}]\n`, /looks like a JSON array.*jq -c '\.\[\]'/],
    ['pretty-printed JSON', `${JSON.stringify(cardScanned(), null, 2)}\n`, /looks like pretty-printed JSON.*jq -c \./],
  ])('hints at the conversion when the input is %s', (_name, text, hint) => {
    const r = run(['replay', file('in.json', text), '--out', join(dir, 'out'), '--now', NOW]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(hint);
    expect(readOutputs(join(dir, 'out')).summary.warnings).toEqual([expect.stringMatching(hint)]);
  });

  it('warns, and counts in summary.json, when the log is far out of time order', () => {
    const events = Array.from({ length: 20 }, (_, i) => cardScanned({ id: `e${i}`, time: at(40 - 2 * i), data: { card_id: `c${i}` } }));
    const r = run(['replay', '-', '--out', join(dir, 'out'), '--now', NOW], ndjson(...events));
    expect(r.stderr).toMatch(/replay: warning: 17 of 20 valid events arrived more than 5 minutes behind the latest time seen/);
    expect(readOutputs(join(dir, 'out')).summary).toMatchObject({ out_of_order: { events: 17, behind_minutes: 5, max_behind_seconds: 38 * 60 } });
    const sorted = run(['replay', '-', '--out', join(dir, 'sorted'), '--now', NOW], ndjson(...events.reverse()));
    expect(sorted.stderr).toBe('');
    expect(readOutputs(join(dir, 'sorted')).summary).toMatchObject({ out_of_order: { events: 0 }, warnings: [] });
  });

  it('warns when sales in other currencies are replayed without --rates, not with them', () => {
    const eur = saleRecorded({ data: { currency: 'EUR', amount_usd: 3804 } });
    const r = run(['replay', '-', '--out', join(dir, 'out'), '--now', NOW], ndjson(eur));
    expect(r.stderr).toMatch(/^replay: warning: 1 sales in currencies other than USD \(EUR\) were replayed without --rates/m);
    const rates = file('rates.json', JSON.stringify({ base: 'USD', days: { '2026-03-01': { EUR: 0.92 } } }));
    expect(run(['replay', '-', '--out', join(dir, 'out2'), '--now', NOW, '--rates', rates], ndjson(eur)).stderr).toBe('');
  });

  it('is silent on stderr when stderr is not a terminal, unless --progress', () => {
    const text = ndjson(...Array.from({ length: 50 }, (_, i) => cardScanned({ id: `e${i}`, data: { card_id: `c${i}` } })));
    expect(run(['replay', '-', '--out', join(dir, 'a'), '--now', NOW], text).stderr).toBe('');
    expect(run(['replay', '-', '--out', join(dir, 'b'), '--now', NOW, '--quiet', '--progress'], text).stderr).toMatch(/--quiet and --progress/);
  });

  it('Ctrl-C: stops, says how far it got, leaves only .partial outputs (an earlier run\'s complete outputs removed)', async () => {
    const out = join(dir, 'out');
    mkdirSync(out);
    writeFileSync(join(out, 'summary.json'), '{"lines": 1}\n');
    const child = spawn(process.execPath, [CLI, 'replay', '-', '--out', out, '--now', NOW], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    // More accepted events than the events output holds before its first block write (1 MiB), and
    // stdin left open: once that block is on disk the run is provably mid-run with lines behind it.
    // A condition, not a timer: a fixed delay read 0 lines on a loaded machine.
    const total = 6000;
    child.stdin.write(ndjson(...Array.from({ length: total }, (_, i) => cardScanned({ id: `e${i}`, data: { card_id: `c${i}` } }))));
    const tmpEvents = join(out, '.events.ndjson.tmp');
    const deadline = Date.now() + 50_000;
    while (!(existsSync(tmpEvents) && statSync(tmpEvents).size > 0)) {
      if (Date.now() > deadline) throw new Error(`the replay wrote no block of events within 50 s; stderr: ${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const flushed = readFileSync(tmpEvents, 'utf8').split('\n').length - 1;
    child.kill('SIGINT');
    const code = await exited;
    expect({ code, stderr }).toEqual({ code: 130, stderr: expect.stringMatching(/^replay: interrupted by SIGINT/) });
    const m = /^replay: interrupted by SIGINT after ([\d,]+) lines \(([\d,]+) lines, [\d,]+ lines\/s\): no complete outputs were written; partial outputs: /.exec(stderr);
    expect(m).not.toBeNull();
    const read = Number(m![1]!.replace(/,/g, ''));
    expect(Number(m![2]!.replace(/,/g, ''))).toBe(read);
    expect(read).toBeGreaterThanOrEqual(flushed);
    expect(read).toBeLessThanOrEqual(total);
    expect(readdirSync(out).sort()).toEqual(['events.ndjson.partial', 'findings.ndjson.partial', 'summary.json.partial']);
    expect(JSON.parse(readFileSync(join(out, 'summary.json.partial'), 'utf8'))).toEqual({ partial: true, why: 'interrupted', lines_read: read });
    // Every line read was a new event: each is in the partial events output, in order, none lost at the stop.
    const partial = readFileSync(join(out, 'events.ndjson.partial'), 'utf8').trim().split('\n');
    expect(partial).toHaveLength(read);
    expect(partial.map((l) => (JSON.parse(l) as { id: string }).id)).toEqual(Array.from({ length: read }, (_, i) => `e${i}`));
  });
});

function writeAndReturn(path: string): string {
  writeFileSync(path, 'x');
  return path;
}
