import { createWriteStream, type WriteStream } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { isJsonEntry } from '../../shared/structured-stdio';
import { answersTcp, cpuMillis, freePort, listensOn } from './ports';
import { spawnManaged, type ExitStatus, type ManagedProcess } from './processes';

/** The Functions Framework's answer when the source registers no function of that name (FF 5). */
const NOT_DEFINED = /Function '[^']+' is not defined in the provided module/;
/** How a composition root says it did not register its function: `NAME not registered: why`. */
const NOT_REGISTERED = /^\S+ not registered: /;

/** One function served by the Functions Framework in a process of its own, started again when it dies. */
export interface ServedFunction {
  readonly name: string;
  /**
   * Base URL of its push endpoint; the topic path is appended. The same for every instance, unless
   * another process took the port between one instance and the next: ask again at each delivery.
   */
  readonly url: string;
  readonly logPath: string;
  /** The process of the current instance. */
  readonly process: ManagedProcess;
  /** What its output told: how many lines, how many of them errors, the last few of this instance. */
  readonly activity: FunctionActivity;
  /** Every instance that died on its own, oldest first. */
  readonly deaths: readonly FunctionDeath[];
  /** Set once the function died and no new instance could be started: the stack cannot go on. */
  readonly failure: FunctionStartError | undefined;
  /** Called when an instance dies, once the next one serves (or the function gave up). */
  onDeath(listener: (death: FunctionDeath) => void): void;
  /** Stops the current instance and starts no other. Idempotent. */
  stop(): Promise<void>;
}

export interface FunctionActivity {
  lines: number;
  /** Lines that are not one JSON entry (there should be none: shared/structured-stdio). */
  plain: number;
  errors: number;
  /**
   * What the last lines the current instance wrote say (none of an earlier one), for a failure
   * message: the `message` of a JSON entry, a line that is not one as it is.
   */
  tail: string[];
}

/** An instance that died on its own, as Cloud Run would see it: the stack starts another one. */
export interface FunctionDeath {
  readonly at: number;
  /** The pid of the dead instance. */
  readonly pid: number;
  /** How it ended, e.g. `killed by SIGKILL`, `exit code 1`. */
  readonly cause: string;
  readonly uptimeMs: number;
  /** What its own last lines said, since it started (the messages of its entries). */
  readonly lastLines: readonly string[];
  /** Whether a new instance took over; false when the function gave up. */
  readonly restarted: boolean;
}

export type ServeOutcome =
  | { readonly kind: 'served'; readonly fn: ServedFunction }
  /** The built source does not register this function (it is not implemented yet). */
  | { readonly kind: 'absent'; readonly name: string; readonly reason?: string };

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
  /** How long a starting instance may take to listen (default {@link START_BUDGET}). */
  readonly startBudget?: StartBudget;
  /** Picks the port of each attempt (default: a free one); tests use it to lose the race on purpose. */
  readonly pickPort?: () => Promise<number>;
}

/**
 * How long an instance may take to listen: `cpuMs` of its own CPU time, and `wallMs` in all. A
 * function loads in about 2 s of CPU alone; two local stacks starting at once on 2 cores (the
 * fault suite's two runs) took over 20 s of wall time to load one, still loading. So a start is
 * judged by the instance's own progress, not by a fixed wait: 20 s of CPU without a listener is a
 * process busy with something else; 3 minutes in all, one waiting on what does not come.
 */
export interface StartBudget {
  readonly cpuMs: number;
  readonly wallMs: number;
}
export const START_BUDGET: StartBudget = { cpuMs: 20_000, wallMs: 180_000 };

/** A function that dies this often within {@link CRASH_WINDOW_MS} is not started again: it would only loop. */
const MAX_DEATHS = 5;
const CRASH_WINDOW_MS = 60_000;
/** How many times a port taken between the pick and the bind is replaced by another. */
const PORT_ATTEMPTS = 5;

/**
 * Serves one function as production does: `functions-framework --target=NAME
 * --signature-type=http` over the built entry (each function registers as an HTTP function behind
 * the push gate of shared/pubsub/push-http.ts, and Terraform deploys them without an event trigger), with FUNCTION_TARGET set so that only its
 * composition root runs. Its output goes to `<logDir>/<name>.log`, not the console. Resolves
 * once its own process listens (not whoever else answers on the port), or as `absent` when the
 * entry does not register it. When an instance dies on its own, a new one is started on the same
 * port (as Cloud Run starts a new instance), or on another should a process have taken it in
 * between (`url` tells); the messages the dead one held fail their push and are redelivered to
 * the new one.
 */
export async function serveFunction(name: string, options: ServeOptions): Promise<ServeOutcome> {
  const log = createWriteStream(join(options.logDir, `${name}.log`), { flags: 'a' });
  const activity: FunctionActivity = { lines: 0, plain: 0, errors: 0, tail: [] };
  const started = await startListening(name, undefined, 1, options, log, activity);
  if (started.kind === 'serving') return { kind: 'served', fn: new Supervised(name, started.port, options, log, activity, started.instance) };
  log.end();
  if (started.kind === 'absent') return started.reason ? { kind: 'absent', name, reason: started.reason } : { kind: 'absent', name };
  throw started.error;
}

/**
 * Starts instance number `instance` on `port` (a free one when undefined). A port taken by
 * another process between the pick and the bind is replaced by a free one, up to
 * {@link PORT_ATTEMPTS} ports in all; the outcome says which port serves.
 */
async function startListening(name: string, port: number | undefined, instance: number, options: ServeOptions, log: WriteStream, activity: FunctionActivity): Promise<Started & { port: number }> {
  const pick = options.pickPort ?? freePort;
  for (let attempt = 1; ; attempt++) {
    const at = attempt === 1 && port !== undefined ? port : await pick();
    const started = await startInstance(name, at, instance, options, log, activity);
    if (started.kind !== 'failed' || !started.portTaken || attempt >= PORT_ATTEMPTS) return { ...started, port: at };
    note(log, `port ${at} was taken by another process; starting on another`);
  }
}

interface Instance {
  readonly process: ManagedProcess;
  readonly startedAt: number;
  /** Settles once its output is all in the log and in `activity`. */
  readonly drained: Promise<void>;
}

type Started =
  | { kind: 'serving'; instance: Instance }
  | { kind: 'absent'; reason?: string }
  | { kind: 'failed'; error: FunctionStartError; portTaken: boolean };

/** Starts instance number `instance` (from 1: LOCAL_INSTANCE in its environment) of a function. */
async function startInstance(name: string, port: number, instance: number, options: ServeOptions, log: WriteStream, activity: FunctionActivity): Promise<Started> {
  const logPath = join(options.logDir, `${name}.log`);
  // node_modules/.bin/functions-framework is this file; run it with this very node.
  const bin = join(dirname(require.resolve('@google-cloud/functions-framework')), 'main.js');
  const proc = spawnManaged(
    name,
    process.execPath,
    [bin, `--target=${name}`, '--signature-type=http', `--port=${port}`, `--source=${resolve(options.source)}`],
    { env: { ...options.env, FUNCTION_TARGET: name, LOCAL_INSTANCE: String(instance) } },
  );
  activity.tail = [];
  const drained = capture(proc, log, activity);
  let gone = false;
  void proc.exited.then(() => (gone = true));
  try {
    await waitForListener(proc.pid, port, options.startBudget ?? START_BUDGET, () => gone);
  } catch (err) {
    await proc.stop();
    return { kind: 'failed', error: new FunctionStartError(`${name}: ${(err as Error).message}; see ${logPath}`, name, logPath, activity.tail), portTaken: false };
  }
  if (!gone) return { kind: 'serving', instance: { process: proc, startedAt: Date.now(), drained } };
  const status = await proc.exited;
  await drained;
  if (activity.tail.some((l) => NOT_DEFINED.test(l))) {
    // A composition root that declines to register says why (volume-monitor without BigQuery).
    const reason = activity.tail.find((l) => NOT_REGISTERED.test(l))?.replace(NOT_REGISTERED, '');
    return reason ? { kind: 'absent', reason } : { kind: 'absent' };
  }
  return {
    kind: 'failed',
    error: new FunctionStartError(`${name} exited (${exitCause(status)}) before it listened; see ${logPath}`, name, logPath, activity.tail),
    portTaken: activity.tail.some((l) => /EADDRINUSE/.test(l)),
  };
}

/** A line of the stack's own in the function's log, marked as such. */
function note(log: WriteStream, message: string): void {
  if (!log.writableEnded) log.write(`${JSON.stringify({ severity: 'WARNING', message: `local stack: ${message}` })}\n`);
}

/** `killed by SIGKILL`, `exit code 1`. */
export function exitCause(status: ExitStatus): string {
  return status.signal ? `killed by ${status.signal}` : `exit code ${status.code ?? 'unknown'}`;
}

class Supervised implements ServedFunction {
  readonly logPath: string;
  readonly deaths: FunctionDeath[] = [];
  failure: FunctionStartError | undefined;
  private current: Instance;
  private stopping = false;
  private readonly listeners: Array<(death: FunctionDeath) => void> = [];

  constructor(
    readonly name: string,
    private port: number,
    private readonly options: ServeOptions,
    private readonly log: WriteStream,
    readonly activity: FunctionActivity,
    first: Instance,
  ) {
    this.logPath = join(options.logDir, `${name}.log`);
    this.current = first;
    this.watch(first);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get process(): ManagedProcess {
    return this.current.process;
  }

  onDeath(listener: (death: FunctionDeath) => void): void {
    this.listeners.push(listener);
  }

  private watch(instance: Instance): void {
    void instance.process.exited.then(async (status) => {
      await instance.drained.catch(() => undefined);
      if (this.stopping) return;
      await this.replace(instance, status);
    });
  }

  /** Records the death of `dead` and starts the next instance, unless the function keeps dying. */
  private async replace(dead: Instance, status: ExitStatus): Promise<void> {
    const at = Date.now();
    const lastLines = [...this.activity.tail];
    const cause = exitCause(status);
    const recent = this.deaths.filter((d) => at - d.at < CRASH_WINDOW_MS).length + 1;
    let restarted = false;
    let error: FunctionStartError | undefined;
    if (recent >= MAX_DEATHS) {
      error = new FunctionStartError(`${this.name} died ${recent} times within ${CRASH_WINDOW_MS / 1000} s (last: ${cause}); not started again; see ${this.logPath}`, this.name, this.logPath, lastLines);
    } else {
      this.note(`instance ${dead.process.pid} ${cause} after ${((at - dead.startedAt) / 1000).toFixed(1)} s; starting a new instance on port ${this.port}`);
      const started = await startListening(this.name, this.port, this.deaths.length + 2, this.options, this.log, this.activity);
      if (this.stopping) {
        if (started.kind === 'serving') await started.instance.process.stop();
        return;
      }
      if (started.kind === 'serving') {
        restarted = true;
        this.port = started.port;
        this.current = started.instance;
        this.watch(started.instance);
      } else {
        error = started.kind === 'failed' ? started.error : new FunctionStartError(`${this.name} is no longer registered by ${this.options.source}`, this.name, this.logPath, []);
      }
    }
    const death: FunctionDeath = { at, pid: dead.process.pid, cause, uptimeMs: at - dead.startedAt, lastLines, restarted };
    this.deaths.push(death);
    if (error) {
      this.failure = error;
      this.note(error.message);
    }
    for (const listener of this.listeners) listener(death);
  }

  private note(message: string): void {
    note(this.log, message);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.current.process.stop();
    await this.current.drained.catch(() => undefined);
    if (!this.log.writableEnded) await new Promise<void>((done) => this.log.end(() => done()));
  }
}

/** What a log line says to a person: a JSON entry's `message`, anything else as it is. */
export function said(line: string): string {
  if (!isJsonEntry(line)) return line;
  const message = (JSON.parse(line) as { message?: unknown }).message;
  return typeof message === 'string' ? message : line;
}

/** Copies an instance's output to the function's log, counting lines and the ones that say something failed. */
function capture(proc: ManagedProcess, log: WriteStream, activity: FunctionActivity): Promise<void> {
  const take = (line: string, stream: 'stdout' | 'stderr') => {
    activity.lines++;
    if (!isJsonEntry(line)) activity.plain++;
    activity.tail = [...activity.tail.slice(-19), said(line)];
    if (isErrorLine(line, stream)) activity.errors++;
  };
  const consume = (stream: 'stdout' | 'stderr') => {
    let partial = '';
    const source = proc.child[stream];
    if (!source) return Promise.resolve();
    source.on('data', (chunk: Buffer) => {
      if (!log.writableEnded) log.write(chunk);
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) take(line, stream);
    });
    return new Promise<void>((resolve) =>
      source.once('close', () => {
        // A process killed mid-line still said something.
        if (partial !== '') take(partial, stream);
        resolve();
      }),
    );
  };
  return Promise.all([consume('stdout'), consume('stderr')]).then(() => undefined);
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

/**
 * Resolves once process `pid` listens on `port`, or as soon as `gone()` says it exited; rejects
 * once it has spent its budget (StartBudget) without a listener. Where /proc cannot tell whose
 * the listener is, a connection to the port is taken for it; where it cannot tell the CPU time,
 * the wall-clock budget alone applies.
 */
export async function waitForListener(pid: number, port: number, budget: StartBudget, gone: () => boolean): Promise<void> {
  const deadline = Date.now() + budget.wallMs;
  for (;;) {
    if (gone()) return;
    // A connection first: it is cheap, where a read of /proc/net/tcp walks the kernel's whole socket
    // table (about 2 ms here; seven functions starting took half a core for it). /proc is asked
    // only once somebody answers: whether it is this process.
    if ((await answersTcp(`127.0.0.1:${port}`)) && (listensOn(pid, port) ?? true)) return;
    const cpu = cpuMillis(pid);
    if (cpu !== undefined && cpu > budget.cpuMs) throw new Error(`the process does not listen on port ${port} after ${(cpu / 1000).toFixed(1)} s of CPU time`);
    if (Date.now() > deadline) throw new Error(`the process does not listen on port ${port} after ${budget.wallMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
