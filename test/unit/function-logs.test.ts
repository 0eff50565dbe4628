import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { asJsonLines } from '../../shared/structured-stdio';
import { ensureBuilt } from '../support/build';

/**
 * Function logs are one JSON entry a line and nothing else (issue 10 item 8): the deployable
 * entry turns whatever the Functions Framework and Node print into entries.
 */
const ROOT = join(__dirname, '..', '..');
const FF = join(ROOT, 'node_modules', '@google-cloud', 'functions-framework', 'build', 'src', 'main.js');
const ENTRY = join(ROOT, 'dist', 'functions', 'index.js');

const parsedLines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new Error(`not a JSON entry: ${line}`);
      }
    });

describe('asJsonLines', () => {
  it('passes JSON lines as they are and makes each run of other lines one entry, masked', () => {
    const json = '{"severity":"INFO","message":"configured"}\n';
    expect(asJsonLines(json, 'INFO')).toBe(json);
    const stack = 'Error: lookup failed for ana@example.com\n    at handler (/srv/index.js:1:2)\n    at next (/srv/x.js:3:4)\n';
    const out = asJsonLines(stack, 'ERROR', 'validator');
    expect(out.split('\n')).toHaveLength(2);
    const entry = JSON.parse(out) as { severity: string; message: string; function: string };
    expect(entry).toMatchObject({ severity: 'ERROR', function: 'validator' });
    expect(entry.message).toContain('at next (/srv/x.js:3:4)');
    expect(entry.message).not.toContain('ana@example.com');
    expect(parsedLines(asJsonLines(`text before\n${json}text after`, 'INFO')).map((e) => e.message)).toEqual(['text before', 'configured', 'text after']);
    expect(asJsonLines('\n', 'INFO')).toBe('');
    expect(asJsonLines('[1,2]\n', 'INFO')).toBe(`${JSON.stringify({ severity: 'INFO', message: '[1,2]' })}\n`);
  });
});

/** A real Functions Framework process over the built entry, its stdout and stderr in one log, as the stack keeps it. */
const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });

async function serve(target: string, env: NodeJS.ProcessEnv, whenUp?: (port: number, output: () => string) => Promise<void>): Promise<string> {
  const port = await freePort();
  const child = spawn(process.execPath, [FF, `--target=${target}`, '--signature-type=http', `--port=${port}`, `--source=${ENTRY}`], {
    env: { PATH: process.env.PATH, FUNCTION_TARGET: target, METADATA_SERVER_DETECTION: 'none', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout.on('data', (c: Buffer) => (log += c.toString()));
  child.stderr.on('data', (c: Buffer) => (log += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  if (whenUp) {
    // Until it serves (the banner), or it exited: a condition with a generous bound, not a count of ticks.
    for (const deadline = Date.now() + 60_000; !/URL: |listening/i.test(log) && child.exitCode === null && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 100));
    await whenUp(port, () => log);
    child.kill('SIGTERM');
  }
  await exited;
  return log;
}

describe('a function process log, read back', () => {
  beforeAll(() => ensureBuilt(), 120_000);

  it('the Functions Framework banner and a push to a path with no topic: every line a JSON entry', async () => {
    const closed = await freePort();
    const env = { GOOGLE_CLOUD_PROJECT: 'log-test', PUBSUB_EMULATOR_HOST: `127.0.0.1:${closed}` };
    const log = await serve('deduplicator', env, async (port, output) => {
      // A push body at a path without the topic: the push gate warns (the framework's own middleware, which warned in plain text, is not in front of an HTTP function).
      const push = { subscription: 'projects/log-test/subscriptions/s', message: { data: 'e30=', messageId: '1', attributes: {} } };
      void fetch(`http://127.0.0.1:${port}/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(push) }).catch(() => undefined);
      for (const deadline = Date.now() + 60_000; !output().includes('not to /projects/PROJECT/topics/TOPIC') && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 50));
    });
    const entries = parsedLines(log);
    const messages = entries.map((e) => String(e.message));
    // Outside NODE_ENV=production the framework prints its banner: here as entries.
    expect(messages).toEqual(expect.arrayContaining(['Serving function...', 'Function: deduplicator']));
    expect(entries.find((e) => String(e.message).includes('not to /projects/PROJECT/topics/TOPIC'))).toMatchObject({ severity: 'WARNING', function: 'deduplicator' });
  }, 90_000);

  it('a target the entry does not register: the loader errors are entries too, and NODE_ENV=production prints no banner', async () => {
    const log = await serve('no-such-function', { NODE_ENV: 'production' });
    const entries = parsedLines(log);
    expect(entries.length).toBeGreaterThan(0);
    expect(entries.map((e) => e.message).join('\n')).toMatch(/Function 'no-such-function' is not defined in the provided module/);
    expect(entries.every((e) => e.severity === 'ERROR')).toBe(true);
    expect(log).not.toContain('Serving function');
  }, 90_000);
});
