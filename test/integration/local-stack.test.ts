import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Finding } from '../../shared/findings';
import { topology } from '../../shared/topology';
import type { Comparison } from '../../tools/local/expected';
import type { InjectedFault } from '../../cli/generate/demo';
import { ensureBuilt } from '../support/build';
import { processesOf } from '../support/processes';

/**
 * The local stack end to end, as `npm run dev` runs it: the built entry (dist/tools/local/cli.js) as
 * a child process with its own emulators and functions. It must print the report, find every
 * invalid, duplicate and incorrect event the demo injected and nothing else of those kinds (the
 * checkers asking the stand-ins of Stripe, Twilio and OpenExchangeRates), publish one correction
 * event per corrected event, judge the closed hours' volume against the past weeks the demo
 * brings (volume-monitor's embedded detector over the hourly series the stack archives: the
 * demo's discount storm, and no other hour), take an event published with the printed instructions, and on
 * Ctrl-C stop every process it started: the Bigtable emulator (the default state store's) with the
 * others, its cbtemulator too.
 */
const ROOT = join(__dirname, '..', '..');
const DETECTORS = new Set(['deduplicator', 'revenue-checker', 'call-duration-checker', 'crm-checker', 'volume-monitor', 'dlq-triage']);
const KINDS = new Set(['invalid', 'duplicate', 'amount_mismatch', 'fx_mismatch', 'payment_mismatch', 'call_duration_mismatch', 'crm_mismatch', 'volume_anomaly', 'dead_letter']);

interface RunJson {
  exitCode: number;
  findings: Finding[];
  pagePath?: string;
  triage?: { open: Array<{ id: string; class: string; subscription: string; reason: string; event: { id?: string } }> };
  functions: Array<{ name: string; served: boolean; logPath?: string; plainLines?: number }>;
  published: number;
  counts: Record<string, number>;
  comparison: Comparison;
  faults: InjectedFault[];
  unfinished?: string[];
  processes: Array<{ name: string; pid: number; host?: string }>;
  stateStore?: string;
}

/** The command lines of the running cbtemulator processes (the Bigtable emulator's server, which gcloud starts). */
function cbtemulators(): string[] {
  return processesOf('cbtemulator').map((p) => p.args.join(' '));
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until<T>(what: string, probe: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('npm run dev: the local stack with the demo stream', () => {
  const dir = mkdtempSync(join(tmpdir(), 'local-stack-test-'));
  const jsonPath = join(dir, 'run.json');
  let child: ChildProcess;
  let stdout = '';
  let stderr = '';
  let exited: Promise<number | null>;

  beforeAll(() => {
    ensureBuilt();
    child = spawn(process.execPath, [join(ROOT, 'dist', 'tools', 'local', 'cli.js'), '--keep', '--json', jsonPath, '--timeout', '240'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PUBSUB_EMULATOR_HOST: '', FIRESTORE_EMULATOR_HOST: '', BIGTABLE_EMULATOR_HOST: '', STATE_STORE: '' },
    });
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }, 60_000);

  afterAll(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL'); // the watchdogs then take its process groups down
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints the report verdict first, finds exactly the injected invalid, duplicate, incorrect and dead-lettered events, triages them, logs only JSON, writes the page, lists the review queue, serves a published event, and stops everything on Ctrl-C', async () => {
    const running = await until('the stack to stay up', () => (stdout.includes('Ctrl-C stops it all') ? true : undefined), 300_000).catch((err: Error) => {
      throw new Error(`${err.message}\nstdout:\n${stdout}\nstderr:\n${stderr}`);
    });
    expect(running).toBe(true);

    const run = JSON.parse(readFileSync(jsonPath, 'utf8')) as RunJson;
    // The report: the verdict first, a section per concern, about 40 lines.
    const report = stdout.slice(0, stdout.indexOf('The stack stays up')).trimEnd().split('\n');
    expect(report[0]).toMatch(run.exitCode === 0 ? /^PASS {2}(\d+) findings expected, \1 found, nothing else; \d+ faults injected/ : /^FAIL /);
    expect(report.length).toBeLessThanOrEqual(40);
    for (const concern of ['Flow', 'Invalid', 'Duplicates', 'Missing', 'Incorrect', 'Dead letters', 'Reviews', 'Triage', 'Volume', 'Logs', 'Page']) {
      expect(report.some((l) => l.startsWith(`${concern} `))).toBe(true);
    }
    expect(run.unfinished).toBeUndefined();
    expect(run.exitCode).toBe(run.comparison.ok ? 0 : 1);
    expect(run.counts['events-raw']).toBe(run.published);

    // Exactly what the deduplicator (validating first) and the checkers should have found: every
    // expected finding of theirs matched, and no finding of their kinds that the manifest does not explain.
    const ours = run.comparison.injectors.filter((o) => DETECTORS.has(o.detectedBy));
    expect(ours.map((o) => o.injector)).toEqual(
      expect.arrayContaining([
        'invalid: bad JSON',
        'duplicate: same id',
        'duplicate: same business key',
        'duplicate: same content',
        'incorrect: wrong total',
        'incorrect: inverted rate',
        'incorrect: unconverted amount',
        'incorrect: wrong minor-unit exponent',
        'incorrect: payment failed',
        'incorrect: wrong call duration',
        'incorrect: call of 0 s',
        'incorrect: CRM email and phone swapped',
        'incorrect: CRM record missing',
        'incorrect: CRM wrong phone',
        'dead letter: Stripe answers 503',
        'dead letter: Twilio body cut off',
        'volume: discount storm',
      ]),
    );
    for (const o of ours) {
      expect({ injector: o.injector, checked: o.checked, missed: o.missed }).toEqual({ injector: o.injector, checked: true, missed: [] });
      expect(o.matched).toBe(o.expected);
    }
    expect(run.comparison.unexpected.filter((f) => KINDS.has(f.kind))).toEqual([]);
    const expectedCount = (kind: string) => run.faults.flatMap((f) => f.expect).filter((e) => e.match.kind === kind).length;
    expect(run.findings.filter((f) => f.kind === 'invalid')).toHaveLength(expectedCount('invalid'));
    expect(run.findings.filter((f) => f.kind === 'duplicate')).toHaveLength(expectedCount('duplicate'));
    expect(new Set(run.findings.filter((f) => f.kind === 'duplicate').map((f) => f.basis))).toEqual(new Set(['id', 'business_key', 'content']));
    expect(run.counts['events-invalid']).toBe(expectedCount('invalid'));
    // One correction event per corrected event; none for what is held for review.
    const corrected = new Set(run.faults.flatMap((f) => f.expect).filter((e) => e.match.action === 'corrected').map((e) => e.match.event_id));
    expect(corrected.size).toBeGreaterThan(0);
    expect(run.counts['events-corrected']).toBe(corrected.size);
    expect(stdout).toContain(`events-corrected: ${corrected.size} correction events for ${corrected.size} corrected events (${corrected.size} expected from the injected faults)\n`);

    // Volume: every function of the manifest served; the storm hour, and no other, flagged once, in the report and on the page.
    expect(run.functions.filter((f) => !f.served).map((f) => f.name)).toEqual([]);
    const storm = run.faults.find((f) => f.injector === 'volume: discount storm')!.expect[0]!.match;
    const volume = run.findings.filter((f) => f.kind === 'volume_anomaly');
    expect(volume.map((f) => (f.kind === 'volume_anomaly' ? [f.series, f.hour] : []))).toEqual([['discount.issued', storm.hour]]);
    const volumeLine = report.find((l) => l.startsWith('Volume '));
    expect(volumeLine).toMatch(new RegExp(`^Volume +1 anomalous hour: discount\\.issued in the hour from ${storm.hour!.replace(/[.:]/g, '\\$&')}: \\d+ \\(expected [\\d.]+, range [\\d.]+\\.\\.[\\d.]+\\)`));
    expect(volume[0]!.reason).toMatch(/above the expected range .* \(the seasonal baseline: [\d.]+\)$/);
    expect(volumeLine).toMatch(/ \(1 expected\)$/);

    // The stand-ins' faults: a message retried until it dead-lettered (transient, Stripe's 503) and a poison one
    // (Twilio's cut-off body), each triaged with the reason its function recorded.
    const open = run.triage!.open;
    const dead = run.findings.filter((f) => f.kind === 'dead_letter');
    expect(dead.map((f) => f.class).sort()).toEqual(['poison', 'transient']);
    for (const f of dead) {
      const record = open.find((r) => r.event.id === f.event_id && r.class === f.class);
      expect(record?.reason).toMatch(f.class === 'transient' ? /STRIPE_UNAVAILABLE: stripe: 503/ : /SyntaxError/);
    }
    expect(report.some((l) => /^ {2}transient revenue-checker-sales/.test(l))).toBe(true);
    expect(report.some((l) => /^ {2}poison {4}call-duration-checker-calls/.test(l))).toBe(true);

    // Every line of every function's log is one JSON entry, the failed attempts' stacks included.
    for (const fn of run.functions.filter((f) => f.served)) {
      const lines = readFileSync(fn.logPath!, 'utf8').split('\n').filter((l) => l !== '');
      for (const line of lines) expect(() => JSON.parse(line) as unknown).not.toThrow();
    }
    expect(run.functions.filter((f) => f.served).map((f) => [f.name, f.plainLines])).toEqual(run.functions.filter((f) => f.served).map((f) => [f.name, 0]));

    // The report page, named in the report, drawn by the replay's page builder.
    expect(report).toContain(`Page          ${run.pagePath}  (open it in a browser: the charts, the findings to read first)`);
    const page = readFileSync(run.pagePath!, 'utf8');
    expect(page).toContain(`${run.findings.length} findings in ${run.published} messages`);
    expect(page).toMatch(/<div class="series" data-series="discount\.issued">.*<rect class="band"/);

    // The review queue, through the dlq commands printed for this stack's ports.
    const api = /export DLQ_API_URL=(\S+) DLQ_API_TOKEN=(\S+)/.exec(stdout);
    expect(api).not.toBeNull();
    const reviews = JSON.parse(
      execFileSync(process.execPath, [join(ROOT, 'dist', 'cli', 'event-recovery.js'), 'dlq', 'list', '--class', 'review', '--json'], {
        env: { ...process.env, DLQ_API_URL: api![1], DLQ_API_TOKEN: api![2] },
        encoding: 'utf8',
      }),
    ) as { records: Array<{ class: string; event: { id?: string } }> };
    const held = run.findings.filter((f) => f.action === 'review').map((f) => f.event_id);
    expect(reviews.records.map((r) => r.event.id).sort()).toEqual(held.sort());

    // Publish one more event the way the printed instructions say; the stack prints its finding.
    const pubsubHost = run.processes.find((p) => p.name === 'pubsub-emulator')!.host!;
    expect(stdout).toContain(`PUBSUB_EMULATOR_HOST=${pubsubHost}`);
    execFileSync(process.execPath, [join(ROOT, 'dist', 'cli', 'event-recovery.js'), 'publish', '-'], {
      input: '{"specversion":"1.0","id":"typed-by-hand","source":"//test/shell","type":"lead.deleted","time":"2026-03-01T10:00:00Z","data":{}}\n',
      env: { ...process.env, PUBSUB_EMULATOR_HOST: pubsubHost, GOOGLE_CLOUD_PROJECT: 'event-recovery-local' },
    });
    await until('the live finding', () => (/finding\s+invalid\/dropped\s+typed-by-hand/.test(stdout) ? true : undefined), 20_000);

    // The state store by default is Bigtable: its emulator runs beside the others, with the manifest's
    // tables, as the functions' client (shared/adapters/bigtable.ts) finds them.
    expect(run.stateStore).toBe('bigtable');
    const bigtableHost = run.processes.find((p) => p.name === 'bigtable-emulator')?.host;
    expect(bigtableHost).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(stdout).toContain(`BIGTABLE_EMULATOR_HOST=${bigtableHost}`);
    const tables = execFileSync(
      process.execPath,
      ['-e', "const { bigtableInstance } = require('./dist/shared/adapters/bigtable'); bigtableInstance('event-recovery').getTables().then(([t]) => console.log(t.map((x) => x.id).sort().join(',')))"],
      { cwd: ROOT, env: { ...process.env, BIGTABLE_EMULATOR_HOST: bigtableHost }, encoding: 'utf8' },
    );
    const manifestTables = topology.functions.flatMap((f) => f.bigtable ?? []).map((t) => t.table);
    expect(manifestTables.length).toBeGreaterThan(0);
    expect(tables.trim()).toBe([...new Set(manifestTables)].sort().join(','));
    const port = bigtableHost!.split(':')[1];
    const ourEmulator = () => cbtemulators().filter((args) => args.includes(`--port=${port}`));
    expect(ourEmulator()).toHaveLength(1);

    // Ctrl-C: everything stops, and dev mode exits 0.
    const groups = run.processes.map((p) => p.pid);
    expect(groups.every(groupAlive)).toBe(true);
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    await until('every process group to be gone', () => (groups.some(groupAlive) ? undefined : true), 10_000);
    await until('no cbtemulator of this stack left', () => (ourEmulator().length === 0 ? true : undefined), 10_000);
  }, 400_000);
});
