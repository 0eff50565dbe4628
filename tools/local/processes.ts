import { spawn, type ChildProcess } from 'node:child_process';

/** How a managed process ended. */
export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/**
 * A child process that runs in a process group of its own, so that stopping it also stops
 * whatever it started (the Google Cloud CLI starts a JVM), and that dies with this process.
 */
export interface ManagedProcess {
  readonly name: string;
  /** The process id; also the id of its process group. */
  readonly pid: number;
  readonly child: ChildProcess;
  /** Settles when the process exits. */
  readonly exited: Promise<ExitStatus>;
  /** SIGTERM to the group, SIGKILL to what is left after `graceMs`. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Runs the command through `sh`, which starts a watchdog in the same process group and then
 * `exec`s the command. The watchdog polls this process: should it die without stopping its
 * children (SIGKILL, a crashed test runner), the watchdog takes the group down, so no JVM or
 * function server is ever orphaned. A normal stop kills the watchdog with the group.
 */
const WATCHDOG = [
  'parent=$1; shift',
  '( trap "" TERM INT HUP',
  '  while kill -0 "$parent" 2>/dev/null; do sleep 1; done',
  '  kill -s TERM -- -$$ 2>/dev/null; sleep 2; kill -s KILL -- -$$ 2>/dev/null',
  ') </dev/null >/dev/null 2>&1 &',
  'exec "$@"',
].join('\n');

const running = new Set<ManagedProcess>();

/** Starts `command` in its own process group, with its output piped to this process. */
export function spawnManaged(
  name: string,
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): ManagedProcess {
  installHooks();
  const child = spawn('/bin/sh', ['-c', WATCHDOG, 'watchdog', String(process.pid), command, ...args], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: options.env ?? process.env,
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
  if (child.pid === undefined) throw new Error(`cannot start ${name} (${command})`);
  const pid = child.pid;
  const exited = new Promise<ExitStatus>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', () => resolve({ code: null, signal: null }));
  });
  let stopping: Promise<void> | undefined;
  const managed: ManagedProcess = {
    name,
    pid,
    child,
    exited,
    stop(graceMs = 5000) {
      stopping ??= stopGroup(pid, exited, graceMs).finally(() => running.delete(managed));
      return stopping;
    },
  };
  running.add(managed);
  return managed;
}

async function stopGroup(pgid: number, exited: Promise<ExitStatus>, graceMs: number): Promise<void> {
  signalGroup(pgid, 'SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
  clearTimeout(timer);
  // The leader is gone (or would not go): take down what is left of its group, the watchdog and
  // any JVM that outlives the CLI wrapper by a moment.
  signalGroup(pgid, 'SIGKILL');
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    /* the group is gone already */
  }
}

/** Stops every process started through {@link spawnManaged} that is still running. */
export function stopAll(graceMs?: number): Promise<void> {
  return Promise.all([...running].map((p) => p.stop(graceMs))).then(() => undefined);
}

/** The processes started here that have not been stopped, for diagnostics and tests. */
export function runningProcesses(): readonly ManagedProcess[] {
  return [...running];
}

/**
 * What SIGINT, SIGTERM and SIGHUP do once a managed process exists: by default, stop every
 * managed process and exit with 128 + the signal number. A runner with its own shutdown (a
 * report to close, an exit code of its own) replaces it; a second signal always ends at once.
 */
export type SignalHandler = (signal: NodeJS.Signals) => Promise<number>;

const SIGNALS = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const;
let signalHandler: SignalHandler = async (signal) => {
  await stopAll();
  return 128 + SIGNALS[signal as keyof typeof SIGNALS];
};

export function onSignal(handler: SignalHandler): void {
  signalHandler = handler;
  installHooks();
}

let hooked = false;
function installHooks(): void {
  if (hooked) return;
  hooked = true;
  // Last resort: an exiting process can no longer wait, but it can still signal the groups.
  process.once('exit', () => {
    for (const p of running) signalGroup(p.pid, 'SIGKILL');
  });
  let received = false;
  for (const signal of Object.keys(SIGNALS) as NodeJS.Signals[]) {
    process.on(signal, () => {
      if (received) {
        process.exit(128 + SIGNALS[signal as keyof typeof SIGNALS]);
      }
      received = true;
      signalHandler(signal).then(
        (code) => process.exit(code),
        () => process.exit(1),
      );
    });
  }
}
