import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveFunction, type ServedFunction } from '../../tools/local/functions';
import { freePort } from '../../tools/local/ports';
import { ensureBuilt } from '../support/build';

/**
 * A local function's port taken by another process (ci17: dlq-triage's port answered by someone
 * else, so it was "serving" there; its instance died with EADDRINUSE, and every new one on the
 * same port too, until the stack gave up). A port counts as the function's only once its own
 * process listens on it, and an instance that cannot bind its port moves to another one.
 */
const ROOT = join(__dirname, '..', '..');
const SOURCE = join(ROOT, 'dist', 'functions', 'index.js');
const FOREIGN = 'HTTP/1.1 418 not-the-function\r\ncontent-length: 7\r\nconnection: close\r\n\r\nforeign';

/** Something else listening on `port` (any port when 0), answering every request as itself. */
function squat(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    // Closed from this side once answered: a kept-alive connection would hold server.close() open.
    const server = createServer((socket) => socket.end(FOREIGN, () => socket.destroy()));
    server.once('error', reject);
    server.listen(port, () => resolve(server));
  });
}

const portOf = (server: Server) => (server.address() as { port: number }).port;
const close = (server: Server) => new Promise<void>((done) => server.close(() => done()));

/** Who answers at `url`: the squatter says `foreign`; the function's push gate answers a GET in its own words. */
async function answerAt(url: string): Promise<string> {
  const res = await fetch(url);
  return `${res.status} ${await res.text()}`;
}

async function until(done: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('a local function whose port another process holds', () => {
  const logDir = mkdtempSync(join(tmpdir(), 'function-ports-'));
  const env = { ...process.env, STATE_STORE: 'firestore' };
  const served: ServedFunction[] = [];
  const squatters: Server[] = [];

  beforeAll(() => ensureBuilt());
  afterAll(async () => {
    await Promise.all(served.map((f) => f.stop()));
    await Promise.all(squatters.map(close));
    rmSync(logDir, { recursive: true, force: true });
  });

  it('is not taken for served when someone else answers there: the function starts on another port', async () => {
    const squatter = await squat(0);
    squatters.push(squatter);
    const picks = [portOf(squatter)];
    const outcome = await serveFunction('deduplicator', { source: SOURCE, env, logDir, pickPort: () => Promise.resolve(picks.shift() ?? freePort()) });
    if (outcome.kind !== 'served') throw new Error('deduplicator not registered');
    served.push(outcome.fn);

    expect(picks).toEqual([]);
    expect(outcome.fn.url).not.toBe(`http://127.0.0.1:${portOf(squatter)}`);
    expect(await answerAt(outcome.fn.url)).not.toContain('foreign');
    expect(outcome.fn.deaths).toEqual([]);
  }, 120_000);

  it('moves to another port when its port is taken between one instance and the next, and keeps serving', async () => {
    const outcome = await serveFunction('deduplicator', { source: SOURCE, env, logDir });
    if (outcome.kind !== 'served') throw new Error('deduplicator not registered');
    const fn = outcome.fn;
    served.push(fn);
    const before = fn.url;
    const port = Number(new URL(before).port);
    // Kill the instance and take its port the moment it is free: the next instance is a new node
    // process still loading its source then. Should it win the port all the same, the test tries again.
    let squatter: Server | undefined;
    for (let attempt = 1; !squatter; attempt++) {
      const { pid } = fn.process;
      const deaths = fn.deaths.length;
      process.kill(pid, 'SIGKILL');
      await until(() => !alive(pid), `instance ${pid} to exit`);
      squatter = await squat(port).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EADDRINUSE' || attempt >= 3) throw err;
        return undefined;
      });
      if (!squatter) await until(() => fn.deaths.length > deaths, 'the instance that won the port back');
    }
    squatters.push(squatter);
    await until(() => fn.url !== before || fn.failure !== undefined, 'the function to move or give up', 60_000);

    expect(fn.failure).toBeUndefined();
    expect(fn.deaths.at(-1)).toMatchObject({ cause: 'killed by SIGKILL', restarted: true });
    expect(await answerAt(before)).toContain('foreign');
    expect(await answerAt(fn.url)).not.toContain('foreign');
  }, 120_000);
});
