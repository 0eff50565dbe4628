import { accessSync, constants } from 'node:fs';
import { get } from 'node:http';
import { delimiter, join } from 'node:path';
import { answersTcp, freePort } from './ports';
import { spawnManaged } from './processes';

/** A running emulator: where it listens and how to stop it (and the JVM it started). */
export interface Emulator {
  readonly name: 'pubsub' | 'firestore' | 'bigtable';
  readonly host: string;
  /** The CLI's process id, which is also the id of the process group holding its JVM. */
  readonly pid: number;
  stop(): Promise<void>;
}

export class EmulatorUnavailableError extends Error {
  override readonly name = 'EmulatorUnavailableError';
}

const COMMANDS = {
  pubsub: ['beta', 'emulators', 'pubsub', 'start'],
  firestore: ['emulators', 'firestore', 'start'],
  bigtable: ['beta', 'emulators', 'bigtable', 'start'],
} as const;

/** What each emulator prints once it serves (the HTTP check alone could reach whoever else holds the port). */
const READY: Readonly<Record<Emulator['name'], RegExp>> = {
  pubsub: /Server started, listening on/,
  firestore: /Dev App Server is now running/,
  bigtable: /Cloud Bigtable emulator running on/,
};

/**
 * The port was taken between the pick and the bind (another process starting at the same time).
 * The Pub/Sub emulator then stays up without serving (the exception ends only its main thread);
 * the Firestore emulator exits.
 */
const BIND_FAILED = /java\.net\.BindException|Address already in use|bind: address already in use/;

/** How many ports to try when each one turns out taken by the time the emulator binds it. */
const BIND_ATTEMPTS = 5;

export interface EmulatorOptions {
  readonly timeoutMs?: number;
  /** A fixed port: no retry elsewhere when it is taken. */
  readonly port?: number;
  /** Picks the port of each attempt (default: a free one); tests use it to lose the race on purpose. */
  readonly pickPort?: () => Promise<number>;
  /** Told of each attempt that lost its port, before the next one. */
  readonly onBindRetry?: (port: number) => void;
}

/**
 * Starts a Google Cloud CLI emulator on a free loopback port (or the one given) and resolves once
 * it says it serves and answers HTTP. A free port can be taken by another process before the
 * emulator binds it: then it starts again on a fresh port, up to {@link BIND_ATTEMPTS} times
 * (never when the caller fixed the port). The CLI runs in its own process group so that stopping
 * it also stops the JVM it spawns, and a watchdog stops it should this process die first (see
 * ./processes).
 */
export async function startEmulator(name: Emulator['name'], options: EmulatorOptions = {}): Promise<Emulator> {
  if (!onPath('gcloud')) throw new EmulatorUnavailableError('cannot start gcloud: the Google Cloud CLI is not on PATH');
  const pick = options.pickPort ?? freePort;
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await pick());
    try {
      return await startOnce(name, port, options.timeoutMs ?? 60_000);
    } catch (err) {
      if (!(err instanceof PortTakenError) || options.port !== undefined || attempt >= BIND_ATTEMPTS) {
        throw err instanceof PortTakenError ? new EmulatorUnavailableError(`${err.message}${options.port === undefined ? ` (${attempt} ports tried)` : ''}`) : err;
      }
      options.onBindRetry?.(port);
    }
  }
}

class PortTakenError extends Error {}

/**
 * The Pub/Sub and Firestore emulators are JVMs, and a local run is short: over a demo run's stream
 * the two took about as much CPU as the deduplicator and gap-detector together, on the same two
 * cores, and every request that waited for a core waited on them. About half of it went to the
 * JIT's optimizing (C2) compiler and G1's threads: compiled by C1 alone (`-XX:TieredStopAtLevel=1`,
 * the quick compiler) and collected by the serial collector, the Pub/Sub emulator took 3.6-5.1 s
 * where it took 7.6-11.4 s (README, "What it costs per million events"). The JVM reads
 * JAVA_TOOL_OPTIONS whatever script starts it, and puts it before the command line's own options
 * ("prepends the value of the environment variable to the options",
 * https://docs.oracle.com/javase/8/docs/technotes/guides/troubleshoot/envvars002.html); a user's
 * own JAVA_TOOL_OPTIONS comes after these, so it wins where the two differ.
 */
export const EMULATOR_JVM_OPTIONS = '-XX:TieredStopAtLevel=1 -XX:+UseSerialGC';

/** JAVA_TOOL_OPTIONS for an emulator: these options, then the user's own. */
export function jvmOptions(env: NodeJS.ProcessEnv): string {
  const own = env.JAVA_TOOL_OPTIONS?.trim();
  return own ? `${EMULATOR_JVM_OPTIONS} ${own}` : EMULATOR_JVM_OPTIONS;
}

async function startOnce(name: Emulator['name'], port: number, timeoutMs: number): Promise<Emulator> {
  const host = `127.0.0.1:${port}`;
  const args = [...COMMANDS[name], `--host-port=${host}`, '--quiet'];
  const proc = spawnManaged(`${name}-emulator`, 'gcloud', args, { env: { ...process.env, CLOUDSDK_CORE_DISABLE_PROMPTS: '1', JAVA_TOOL_OPTIONS: jvmOptions(process.env) } });
  const child = proc.child;
  let output = '';
  let announced: () => void = () => undefined;
  let bindFailed: (err: Error) => void = () => undefined;
  const ready = new Promise<void>((resolve) => (announced = resolve));
  const taken = new Promise<never>((_, reject) => (bindFailed = reject));
  taken.catch(() => undefined);
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
    if (BIND_FAILED.test(output)) bindFailed(new PortTakenError(`the ${name} emulator could not bind ${host}: the port was taken`));
    else if (READY[name].test(output)) announced();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = proc.exited.then((status) => {
    if (BIND_FAILED.test(output)) throw new PortTakenError(`the ${name} emulator could not bind ${host}: the port was taken`);
    throw new EmulatorUnavailableError(`the ${name} emulator exited (${status.code ?? status.signal}) before it was ready:\n${output}`);
  });
  exited.catch(() => undefined);
  const stop = () => proc.stop();
  try {
    const deadline = Date.now() + timeoutMs;
    // The Bigtable emulator speaks gRPC only (HTTP/2): a TCP connection is its answer.
    const answers = name === 'bigtable' ? answersTcp : answersHttp;
    await Promise.race([ready.then(() => waitFor(answers, host, Math.max(0, deadline - Date.now()))), exited, taken, timeout(timeoutMs, host)]);
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

function timeout(ms: number, host: string): Promise<never> {
  return new Promise((_, reject) => {
    const t = setTimeout(() => reject(new EmulatorUnavailableError(`emulator at ${host} not ready after ${ms} ms`)), ms);
    t.unref();
  });
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

/** Asks `answers` every 200 ms until it says yes; throws once `timeoutMs` has passed. */
async function waitFor(answers: (host: string) => Promise<boolean>, host: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await answers(host)) return;
    if (Date.now() > deadline) throw new EmulatorUnavailableError(`emulator at ${host} not ready after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Whether an HTTP GET of `/` gets an answer below 500. */
function answersHttp(host: string): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
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
}

/** The environment a client needs to find the emulators (DESIGN §8). */
export function emulatorEnv(
  pubsub: Pick<Emulator, 'host'>,
  firestore: Pick<Emulator, 'host'>,
  projectId: string,
  bigtable?: Pick<Emulator, 'host'>,
): Record<string, string> {
  return {
    PUBSUB_EMULATOR_HOST: pubsub.host,
    FIRESTORE_EMULATOR_HOST: firestore.host,
    ...(bigtable ? { BIGTABLE_EMULATOR_HOST: bigtable.host } : {}),
    GOOGLE_CLOUD_PROJECT: projectId,
    GCLOUD_PROJECT: projectId,
    METADATA_SERVER_DETECTION: 'none',
  };
}
