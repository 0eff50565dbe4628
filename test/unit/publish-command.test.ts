/**
 * `event-recovery publish`: its flags, its usage errors (exit 2, one line), and the publishing
 * loop's bounds (rate, messages in flight, resume line) against a fake send; the real Pub/Sub
 * path is test/integration/publish.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { publishLog, type PublishLogOptions } from '../../cli/commands/publish';
import { producerAttributes } from '../../shared/adapters/pubsub-producer';

const CLI = resolve(__dirname, '../../dist/cli/event-recovery.js');

function run(args: string[], env: Record<string, string | undefined> = {}) {
  const r = spawnSync(process.execPath, [CLI, 'publish', ...args], {
    encoding: 'utf8',
    input: '',
    timeout: 30_000,
    env: { ...process.env, GOOGLE_CLOUD_PROJECT: 'p-test', PUBSUB_EMULATOR_HOST: '127.0.0.1:9', ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('event-recovery publish: usage', () => {
  it('is a command of event-recovery, with its options in --help', () => {
    const top = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
    expect(top.stdout).toMatch(/^ {2}publish +publish an NDJSON event log into a pipeline's raw topic/m);
    const help = run(['--help']);
    expect(help.status).toBe(0);
    for (const flag of ['--project ID', '--topic NAME', '--rate N', '--from-line N', '--max-in-flight N', '--quiet']) expect(help.stdout).toContain(flag);
  });

  it.each([
    [[], /^event-recovery: missing input: a file of NDJSON events, or - for standard input\n$/],
    [['a.ndjson', 'b.ndjson'], /expected one input, got 2/],
    [['-', '--rate', '0'], /--rate must be a positive number/],
    [['-', '--rate', 'fast'], /--rate must be a positive number/],
    [['-', '--from-line', '0'], /--from-line must be a line number, 1 or more/],
    [['-', '--from-line', '2.5'], /--from-line must be a line number/],
    [['-', '--max-in-flight=0'], /--max-in-flight must be a whole number/],
    [['-', '--topic', 'ab'], /--topic: not a Pub\/Sub topic name: ab/],
    [['-', '--topic', 'goog-raw'], /--topic: not a Pub\/Sub topic name/],
    [['-', '--ratez', '5'], /Unknown option '--ratez'/],
    [['/no/such/events.ndjson'], /cannot read \/no\/such\/events\.ndjson: ENOENT/],
  ])('exits 2 with one line for %j', (args, message) => {
    const r = run(args as string[]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stdout).toBe('');
  });

  it('exits 2 without a project', () => {
    const r = run(['-'], { GOOGLE_CLOUD_PROJECT: undefined });
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('event-recovery: no project: pass --project or set GOOGLE_CLOUD_PROJECT\n');
  });
});

async function* linesOf(lines: string[]) {
  for (const l of lines) yield l;
}

/** A clock that the limiter's sleeps advance: the run takes no real time. */
function fakeTime() {
  let now = 1_000_000;
  return { clock: { now: () => now }, sleep: async (ms: number) => void (now += ms), elapsed: () => now - 1_000_000 };
}

describe('publishLog', () => {
  const lines = ['{"id":"a"}', '', '{"id":"b"}', 'not json', '  ', '{"id":"c"}'];

  it('sends every non-blank line from --from-line on, as it is', async () => {
    const sent: string[] = [];
    const t = fakeTime();
    const opts: PublishLogOptions = { fromLine: 3, rate: 100, maxInFlight: 10, clock: t.clock, sleep: t.sleep };
    const result = await publishLog(linesOf(lines), async (text) => void sent.push(text), opts);
    expect(sent).toEqual(['{"id":"b"}', 'not json', '{"id":"c"}']);
    expect(result).toEqual({ published: 3, blank: 1, lastLine: 6 });
  });

  it('keeps to the rate', async () => {
    const t = fakeTime();
    const many = Array.from({ length: 201 }, (_, i) => `{"id":"${i}"}`);
    await publishLog(linesOf(many), async () => undefined, { fromLine: 1, rate: 100, maxInFlight: 1000, clock: t.clock, sleep: t.sleep });
    // 201 messages at 100/s in bursts of 5: at least 1.95 s of (fake) time.
    expect(t.elapsed()).toBeGreaterThanOrEqual(1950);
  });

  it('never has more than --max-in-flight unconfirmed', async () => {
    const t = fakeTime();
    let open = 0;
    let most = 0;
    const pending: Array<() => void> = [];
    const send = () =>
      new Promise<void>((resolve) => {
        open++;
        most = Math.max(most, open);
        pending.push(() => {
          open--;
          resolve();
        });
        // Confirm in batches, as the client does.
        if (pending.length === 3) for (const done of pending.splice(0)) setImmediate(done);
      });
    const many = Array.from({ length: 30 }, (_, i) => `{"id":"${i}"}`);
    const result = await publishLog(linesOf(many), send, { fromLine: 1, rate: 1e6, maxInFlight: 3, clock: t.clock, sleep: t.sleep });
    expect(result.published).toBe(30);
    expect(most).toBe(3);
  });

  it('stops reading at a failure and names the first line not published', async () => {
    const t = fakeTime();
    const sent: string[] = [];
    const many = Array.from({ length: 50 }, (_, i) => `{"id":"${i + 1}"}`);
    const send = async (text: string) => {
      sent.push(text);
      if (text === '{"id":"7"}' || text === '{"id":"9"}') throw Object.assign(new Error('NOT_FOUND'), { code: 5 });
    };
    const result = await publishLog(linesOf(many), send, { fromLine: 1, rate: 1e6, maxInFlight: 2, clock: t.clock, sleep: t.sleep });
    expect(result.failure?.resumeFrom).toBe(7);
    expect(result.failure?.error.message).toBe('NOT_FOUND');
    expect(sent.length).toBeLessThan(12);
  });
});

describe('producer attributes', () => {
  it.each([
    ['an event', '{"type":"sale.recorded","source":"//shop","id":"e-1","data":{}}', { type: 'sale.recorded', source: '//shop', id: 'e-1' }],
    ['empty and non-string values', '{"type":"","id":7}', {}],
    ['a line that is not JSON', 'not json', {}],
    ['a value over 1024 bytes', `{"id":"${'x'.repeat(1025)}"}`, {}],
  ])('of %s', (_what, text, attributes) => {
    expect(producerAttributes(text)).toEqual(attributes);
  });
});
