import { createWriteStream, type WriteStream } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { freePort } from './emulators';
import { spawnManaged, type ManagedProcess } from './processes';

/** The Functions Framework's answer when the source registers no function of that name (FF 5). */
const NOT_DEFINED = /Function '[^']+' is not defined in the provided module/;

/** One function served by the Functions Framework in a process of its own. */
export interface ServedFunction {
  readonly name: string;
  /** Base URL of its push endpoint; the topic path is appended. */
  readonly url: string;
  readonly logPath: string;
  readonly process: ManagedProcess;
  /** What its output told: how many lines, how many of them errors, the last few. */
  readonly activity: FunctionActivity;
}

export interface FunctionActivity {
  lines: number;
  errors: number;
  /** The last lines it wrote, for a failure message. */
  tail: string[];
}

export type ServeOutcome =
  | { readonly kind: 'served'; readonly fn: ServedFunction }
  /** The built source does not register this function (it is not implemented yet). */
  | { readonly kind: 'absent'; readonly name: string };

export class FunctionStartError extends Error {
  override readonly name = 'FunctionStartError';
  constructor(
    message: string,
    readonly functionName: string,
    readonly logPath: string,
    readonly tail: readonly string[],
  ) {
    super(message);
  }
}

export interface ServeOptions {
  /** The built deployable entry, e.g. dist/functions/index.js. */
  readonly source: string;
  readonly env: NodeJS.ProcessEnv;
  readonly logDir: string;
  readonly timeoutMs?: number;
}

/**
 * Serves one function as production does: `functions-framework --target=NAME
 * --signature-type=cloudevent` over the built entry, with FUNCTION_TARGET set so that only its
 * composition root runs. Its output goes to `<logDir>/<name>.log`, not the console. Resolves
 * once it accepts connections, or as `absent` when the entry does not register it.
 */
export async function serveFunction(name: string, options: ServeOptions): Promise<ServeOutcome> {
  const port = await freePort();
  const logPath = join(options.logDir, `${name}.log`);
  const log = createWriteStream(logPath, { flags: 'a' });
  // node_modules/.bin/functions-framework is this file; run it with this very node.
  const bin = join(dirname(require.resolve('@google-cloud/functions-framework')), 'main.js');
  const proc = spawnManaged(
    name,
    process.execPath,
    [bin, `--target=${name}`, '--signature-type=cloudevent', `--port=${port}`, `--source=${resolve(options.source)}`],
    { env: { ...options.env, FUNCTION_TARGET: name } },
  );
  const activity: FunctionActivity = { lines: 0, errors: 0, tail: [] };
  const drained = capture(proc, log, activity);
  let gone = false;
  void proc.exited.then(() => (gone = true));
  try {
    await waitForPort(port, options.timeoutMs ?? 20_000, () => gone);
  } catch (err) {
    await proc.stop();
    throw new FunctionStartError(`${name}: ${(err as Error).message}; see ${logPath}`, name, logPath, activity.tail);
  }
  if (!gone) return { kind: 'served', fn: { name, url: `http://127.0.0.1:${port}`, logPath, process: proc, activity } };
  const status = await proc.exited;
  await drained;
  if (activity.tail.some((l) => NOT_DEFINED.test(l))) return { kind: 'absent', name };
  throw new FunctionStartError(
    `${name} exited (${status.code ?? status.signal}) before it listened; see ${logPath}`,
    name,
    logPath,
    activity.tail,
  );
}

/** Copies a function's output to its log, counting lines and the ones that say something failed. */
function capture(proc: ManagedProcess, log: WriteStream, activity: FunctionActivity): Promise<void> {
  const consume = (stream: 'stdout' | 'stderr') => {
    let partial = '';
    const source = proc.child[stream];
    if (!source) return Promise.resolve();
    source.on('data', (chunk: Buffer) => {
      log.write(chunk);
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        activity.lines++;
        activity.tail = [...activity.tail.slice(-19), line];
        if (isErrorLine(line, stream)) activity.errors++;
      }
    });
    return new Promise<void>((resolve) => source.once('close', () => resolve()));
  };
  return Promise.all([consume('stdout'), consume('stderr')]).then(
    () => new Promise<void>((resolve) => log.end(() => resolve())),
  );
}

/**
 * A line that tells of a failure: a structured entry of severity ERROR or worse, or anything on
 * stderr that is not a structured entry below ERROR (the Functions Framework prints the stack
 * of a thrown handler, which answers 500 and makes Pub/Sub redeliver).
 */
export function isErrorLine(line: string, stream: 'stdout' | 'stderr'): boolean {
  if (line.trim() === '') return false;
  if (line.startsWith('{')) {
    try {
      const severity = (JSON.parse(line) as { severity?: unknown }).severity;
      if (typeof severity === 'string') return ['ERROR', 'CRITICAL', 'ALERT', 'EMERGENCY'].includes(severity);
    } catch {
      /* not JSON after all */
    }
  }
  return stream === 'stderr';
}

/** Resolves once something accepts connections on `port`, or as soon as `gone()` says the server exited. */
async function waitForPort(port: number, timeoutMs: number, gone: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (gone()) return;
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on port ${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
