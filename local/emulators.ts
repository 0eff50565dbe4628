import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { get } from 'node:http';

/** A running emulator: where it listens and how to stop it (and the JVM it started). */
export interface Emulator {
  readonly name: 'pubsub' | 'firestore';
  readonly host: string;
  stop(): Promise<void>;
}

export class EmulatorUnavailableError extends Error {
  override readonly name = 'EmulatorUnavailableError';
}

/** A TCP port on loopback that nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

const COMMANDS = {
  pubsub: ['beta', 'emulators', 'pubsub', 'start'],
  firestore: ['emulators', 'firestore', 'start'],
} as const;

/**
 * Starts a Google Cloud CLI emulator on a free loopback port and resolves once it answers HTTP.
 * The CLI runs in its own process group so that stopping it also stops the JVM it spawns.
 */
export async function startEmulator(name: Emulator['name'], options: { timeoutMs?: number } = {}): Promise<Emulator> {
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const args = [...COMMANDS[name], `--host-port=${host}`, '--quiet'];
  let child: ChildProcess;
  try {
    child = spawn('gcloud', args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CLOUDSDK_CORE_DISABLE_PROMPTS: '1' } });
  } catch (err) {
    throw new EmulatorUnavailableError(`cannot start gcloud: ${(err as Error).message}`);
  }
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<never>((_, reject) => {
    child.once('error', (err) => reject(new EmulatorUnavailableError(`cannot start gcloud: ${err.message}`)));
    child.once('exit', (code) => reject(new EmulatorUnavailableError(`the ${name} emulator exited (${code}) before it was ready:\n${output}`)));
  });
  exited.catch(() => undefined);
  const stop = () => stopGroup(child);
  registerForExit(stop);
  try {
    await Promise.race([waitForHttp(host, options.timeoutMs ?? 60_000), exited]);
  } catch (err) {
    await stop();
    throw err;
  }
  child.stdout?.removeListener('data', collect);
  child.stderr?.removeListener('data', collect);
  child.stdout?.resume();
  child.stderr?.resume();
  return { name, host, stop };
}

async function waitForHttp(host: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const req = get(`http://${host}/`, (res) => {
        res.resume();
        resolve((res.statusCode ?? 500) < 500);
      });
      req.on('error', () => resolve(false));
      req.setTimeout(1000, () => {
        req.destroy();
        resolve(false);
      });
    });
    if (ok) return;
    if (Date.now() > deadline) throw new EmulatorUnavailableError(`emulator at ${host} not ready after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function stopGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
      resolve();
    }, 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      // The JVM may outlive the CLI wrapper by a moment: take the whole group down.
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
      resolve();
    });
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      clearTimeout(timer);
      resolve();
    }
  });
}

const stoppers = new Set<() => Promise<void>>();
let hooked = false;
function registerForExit(stop: () => Promise<void>) {
  stoppers.add(stop);
  if (hooked) return;
  hooked = true;
  // Last resort: never leave an emulator behind, even when the process dies on a signal.
  process.once('exit', () => {
    for (const s of stoppers) void s();
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      void Promise.all([...stoppers].map((s) => s())).finally(() => process.exit(130));
    });
  }
}

/** The environment a client needs to find the emulators (DESIGN §8). */
export function emulatorEnv(pubsub: Emulator, firestore: Emulator, projectId: string): Record<string, string> {
  return {
    PUBSUB_EMULATOR_HOST: pubsub.host,
    FIRESTORE_EMULATOR_HOST: firestore.host,
    GOOGLE_CLOUD_PROJECT: projectId,
    GCLOUD_PROJECT: projectId,
    METADATA_SERVER_DETECTION: 'none',
  };
}
