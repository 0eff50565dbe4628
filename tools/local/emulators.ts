import { accessSync, constants } from 'node:fs';
import { createServer } from 'node:net';
import { get } from 'node:http';
import { delimiter, join } from 'node:path';
import { spawnManaged } from './processes';

/** A running emulator: where it listens and how to stop it (and the JVM it started). */
export interface Emulator {
  readonly name: 'pubsub' | 'firestore';
  readonly host: string;
  /** The CLI's process id, which is also the id of the process group holding its JVM. */
  readonly pid: number;
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
 * Starts a Google Cloud CLI emulator on a free loopback port (or the one given) and resolves once
 * it answers HTTP. The CLI runs in its own process group so that stopping it also stops the JVM
 * it spawns, and a watchdog stops it should this process die first (see ./processes).
 */
export async function startEmulator(name: Emulator['name'], options: { timeoutMs?: number; port?: number } = {}): Promise<Emulator> {
  const port = options.port ?? (await freePort());
  const host = `127.0.0.1:${port}`;
  const args = [...COMMANDS[name], `--host-port=${host}`, '--quiet'];
  if (!onPath('gcloud')) throw new EmulatorUnavailableError('cannot start gcloud: the Google Cloud CLI is not on PATH');
  const proc = spawnManaged(`${name}-emulator`, 'gcloud', args, { env: { ...process.env, CLOUDSDK_CORE_DISABLE_PROMPTS: '1' } });
  const child = proc.child;
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = proc.exited.then((status) => {
    throw new EmulatorUnavailableError(`the ${name} emulator exited (${status.code ?? status.signal}) before it was ready:\n${output}`);
  });
  exited.catch(() => undefined);
  const stop = () => proc.stop();
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
  return { name, host, pid: proc.pid, stop };
}

/** Whether an executable of this name is on PATH. */
export function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    if (!dir) return false;
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
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

/** The environment a client needs to find the emulators (DESIGN §8). */
export function emulatorEnv(pubsub: Pick<Emulator, 'host'>, firestore: Pick<Emulator, 'host'>, projectId: string): Record<string, string> {
  return {
    PUBSUB_EMULATOR_HOST: pubsub.host,
    FIRESTORE_EMULATOR_HOST: firestore.host,
    GOOGLE_CLOUD_PROJECT: projectId,
    GCLOUD_PROJECT: projectId,
    METADATA_SERVER_DETECTION: 'none',
  };
}
