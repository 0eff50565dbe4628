/**
 * The local stack (`npm start`, `npm run dev`): the Pub/Sub, Firestore and Bigtable emulators, every
 * topic and subscription of the manifest, each built function served by the Functions Framework
 * behind push subscriptions, the demo stream published with its faults, and a recovery report
 * once the pipeline is quiet. Everything it starts runs in process groups it stops on the way
 * out, on Ctrl-C and on failure (see ./processes).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Bigtable } from '@google-cloud/bigtable';
import { PubSub } from '@google-cloud/pubsub';
import { z } from 'zod';
import { ensureTables, type TableSpec } from '../../shared/adapters/bigtable';
import { StateStoreEnv } from '../../shared/config';
import { ensureTopology } from '../../shared/adapters/pubsub-admin';
import { resolveSubscriptions, TOPICS, topology } from '../../shared/topology';
import { buildDemo, DELIVERY_JITTER_MS, DEMO_DEFAULTS, GAP_GRACE_MS, type Demo, type DemoMessage, type DemoWorld, type UpstreamFaults } from '../../cli/generate/demo';
import { emulatorEnv, startEmulator, type Emulator } from './emulators';
import { freePort } from './ports';
import { compareWithFaults } from './expected';
import { FunctionStartError, serveFunction, type FunctionDeath, type ServedFunction } from './functions';
import { collectFindings, parseFinding } from './findings-feed';
import { TopicObserver, type Seen } from './observe';
import { INGEST_ID } from '../../shared/attributes';
import { LOCAL_BACKOFF_SCALE, PushGateway } from './push-gateway';
import { DEFAULT_DEDUP_CONFIG } from '../../functions/deduplicator/core';
import { DEFAULT_GAP_DETECTOR_CONFIG } from '../../functions/gap-detector/handler';
import { onSignal, stopAll } from './processes';
import { Progress, TimeoutError, waitUntil, type Push } from './progress';
import { producerTopic, publishPayload } from '../../shared/adapters/pubsub-producer';
import { maskText } from '../../shared/mask';
import { describeIoError } from '../../cli/usage';
import { renderStackPage } from './page';
import { describeFinding, devInstructions, renderReport, REPORT_WIDTH, verdict, type StackRun, type TriageSnapshot } from './report';
import { LOG_PREFIX, pruneOldRuns } from './run-logs';
import { LocalIdTokenIssuer, pushTokens } from './id-tokens';
import { STAND_INS, type StandIn } from './stand-ins';
import { readTriage, type TriageApi } from './triage';
import { VolumeArchive } from './volume-archive';
import type { HourlyRow } from '../../shared/volume/hourly';
import { ingestSubscription } from '../../shared/dead-letters';

export interface StackOptions {
  /** Keep the stack up after the report (`npm run dev`). */
  readonly keep: boolean;
  readonly seed: number;
  readonly projectId: string;
  /** The built deployable entry the Functions Framework serves. */
  readonly source: string;
  /** Bound on publishing and processing the demo. */
  readonly timeoutMs: number;
  /** How long nothing may move before the pipeline counts as quiet. */
  readonly quietMs: number;
  /**
   * The demo is published in slices of arrival time, slice k once every function is done with
   * slice k - `slicesInFlight`; the functions see the events in flight in any order. The slice
   * width follows (see `sliceWidth`).
   */
  readonly slicesInFlight: number;
  /** Progress per published slice, with the functions' handler times. */
  readonly verbose?: boolean;
  /** Writes the run as JSON here (tests, tooling). */
  readonly jsonPath?: string;
  /** Writes the report page here; default: report.html in the run's directory. */
  readonly htmlPath?: string;
  /** Replaces the stand-ins (tests). */
  readonly standIns?: readonly StandIn[];
  /**
   * Where the functions keep their hot per-event state (STATE_STORE): `bigtable`, as deployed by
   * default, starts the Bigtable emulator beside the others and creates the manifest's tables on
   * it; `firestore` starts no Bigtable emulator. Unset: the STATE_STORE of this process's
   * environment, else `bigtable` (see {@link stateStoreOf}).
   */
  readonly stateStore?: StateStore;
  /** Publishes a load stream instead of the demo's own traffic (see `DemoOptions.load`). */
  readonly load?: { readonly scale: number; readonly hotShare: number };
  /**
   * `npm run cost` (tools/cost): pushes to each function at most as many requests at once as it
   * is deployed to take (over all its subscriptions: what one instance of it gets), and a look at
   * the stack once it is up and once it is quiet.
   */
  readonly measure?: {
    readonly functionConcurrency?: (functionName: string) => number | undefined;
    up?(stack: RunningStack): void | Promise<void>;
    quiet?(stack: RunningStack): void | Promise<void>;
  };
}

export type StateStore = z.infer<typeof StateStoreEnv.STATE_STORE>;

/** The store the stack runs on unless told otherwise: the deployment's default (Terraform `state_store`). */
export const DEFAULT_STATE_STORE: StateStore = 'bigtable';

const LocalStateStore = z.object({ ...StateStoreEnv, STATE_STORE: StateStoreEnv.STATE_STORE.unwrap().optional() });

/**
 * The state store and Bigtable instance the stack gives its functions: the option (the command's
 * `--state-store`), else this environment's STATE_STORE, else {@link DEFAULT_STATE_STORE}; the
 * instance from BIGTABLE_INSTANCE (shared/config.ts's default otherwise). A bad value is a clear
 * error, as a function's cold start would give it.
 */
export function stateStoreOf(option: StateStore | undefined, env: NodeJS.ProcessEnv): { stateStore: StateStore; instance: string } {
  const parsed = LocalStateStore.safeParse({
    ...(env.STATE_STORE ? { STATE_STORE: env.STATE_STORE } : {}),
    ...(env.BIGTABLE_INSTANCE ? { BIGTABLE_INSTANCE: env.BIGTABLE_INSTANCE } : {}),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new StackError(`${String(issue.path[0])}: ${issue.message}`);
  }
  return { stateStore: option ?? parsed.data.STATE_STORE ?? DEFAULT_STATE_STORE, instance: parsed.data.BIGTABLE_INSTANCE };
}

/** Every Bigtable table the manifest's functions list, once each (a table two functions share is created once). */
export function manifestTables(functions: ReadonlyArray<{ readonly bigtable?: readonly TableSpec[] }> = topology.functions): TableSpec[] {
  const byName = new Map<string, TableSpec>();
  for (const spec of functions.flatMap((f) => f.bigtable ?? [])) {
    const seen = byName.get(spec.table);
    byName.set(spec.table, seen ? { table: spec.table, families: [...new Set([...seen.families, ...spec.families])] } : spec);
  }
  return [...byName.values()];
}

/**
 * Creates the manifest's tables on the Bigtable emulator at `host` (Terraform creates them in GCP).
 * The client is built as shared/adapters/bigtable.ts builds the functions' (no project id: under an
 * emulator the client uses the same placeholder project for both), pointed at the emulator by
 * `apiEndpoint`, which the client treats as BIGTABLE_EMULATOR_HOST (plain-text gRPC), so that this
 * process's own environment stays as it is.
 */
async function createTables(host: string, instanceId: string): Promise<void> {
  const client = new Bigtable({ apiEndpoint: host, metricsEnabled: false });
  try {
    await ensureTables(client.instance(instanceId), manifestTables());
  } finally {
    await client.close().catch(() => undefined);
  }
}

export const DEFAULT_OPTIONS: StackOptions = {
  keep: false,
  seed: DEMO_DEFAULTS.seed,
  projectId: 'event-recovery-local',
  source: join(__dirname, '..', '..', 'functions', 'index.js'),
  timeoutMs: 180_000,
  quietMs: 2_000,
  slicesInFlight: 4,
};

/** Writes progress to stderr and the report to stdout. */
export interface Console {
  progress(line: string): void;
  report(text: string): void;
}

const consoleIo: Console = {
  progress: (line) => process.stderr.write(`${line}\n`),
  report: (text) => process.stdout.write(text),
};

export class StackError extends Error {
  override readonly name = 'StackError';
}

/** What the stack holds while it runs; `close` takes it all down in order, once. */
class Resources {
  emulators: Emulator[] = [];
  functions: ServedFunction[] = [];
  gateway: PushGateway | undefined;
  timers: NodeJS.Timeout[] = [];
  standIns: Array<{ close(): Promise<void> }> = [];
  pubsub: PubSub | undefined;
  observer: TopicObserver | undefined;
  private closing: Promise<void> | undefined;

  get isClosing(): boolean {
    return this.closing !== undefined;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const t of this.timers) clearInterval(t);
      await this.gateway?.close().catch(() => undefined);
      await this.observer?.close().catch(() => undefined);
      await this.pubsub?.close().catch(() => undefined);
      // Functions before emulators: a function whose emulator vanished only logs errors.
      await Promise.all(this.functions.map((f) => f.stop()));
      await Promise.all([...this.emulators.map((e) => e.stop()), ...this.standIns.map((s) => s.close().catch(() => undefined))]);
      await stopAll();
    })();
    return this.closing;
  }
}

/** The stack once it is up: where things listen and what watches them. */
export type RunningStack = Running;
interface Running {
  readonly hosts: { readonly pubsub: { host: string }; readonly firestore: { host: string }; readonly bigtable?: { host: string } };
  /** The state store the functions were given (STATE_STORE), and the Bigtable instance. */
  readonly stateStore: StateStore;
  readonly bigtableInstance: string;
  readonly logDir: string;
  readonly served: ReadonlyMap<string, ServedFunction>;
  /** Functions of the manifest the entry did not register, with the reason one gave. */
  readonly skipped: ReadonlyMap<string, string | undefined>;
  readonly pubsub: PubSub;
  readonly observer: TopicObserver;
  /** Every push subscription of a served function, with the gateway that delivers it. */
  readonly pushes: readonly Push[];
  /** dlq-triage's operator API, when it is served. */
  readonly triage?: TriageApi;
  /** The environment that points the functions at the stand-ins. */
  readonly standInEnv: Readonly<Record<string, string>>;
  /** The hourly series of what the stack archived, which volume-monitor reads (VOLUME_SERIES_FILE). */
  readonly archive: VolumeArchive;
}

/** Runs the stack once; resolves with the exit code. In `keep` mode it resolves only on a signal. */
export async function runStack(options: StackOptions, io: Console = consoleIo): Promise<number> {
  const t0 = Date.now();
  return underSignals(io, options.keep ? 0 : 130, async (res, stopped) => {
    const demo = buildDemo({ now: Date.now(), seed: options.seed, ...(options.load ? { load: options.load } : {}) });
    const up = await bringUp(options, demo.world, demo.upstream, res, io, demo.volumeHistory);
    const startupMs = Date.now() - t0;
    io.progress(`stack up in ${(startupMs / 1000).toFixed(1)} s: ${[...up.served.keys()].join(', ')} behind push subscriptions`);
    await options.measure?.up?.(up);

    const t1 = Date.now();
    const { tracker, unfinished } = await playDemo(up, demo, options, res, io);
    await options.measure?.quiet?.(up);
    const triage = up.triage ? await readTriage(up.triage) : undefined;
    const summarized = summarize(up, demo, tracker, unfinished, { startupMs, processingMs: Date.now() - t1, totalMs: Date.now() - t0 }, options.projectId, triage);
    const pagePath = writePage(options.htmlPath ?? join(dirname(up.logDir), 'report.html'), summarized, up.observer, io);
    const run: StackRun = { ...summarized, ...(pagePath ? { pagePath } : {}) };
    // Cut to the terminal's width only on a terminal: a report written to a file keeps its lines whole.
    io.report(renderReport(run, { verbose: options.verbose ?? false, ...(process.stdout.isTTY ? { width: Math.max(80, process.stdout.columns || REPORT_WIDTH) } : {}) }));
    const code = unfinished || !run.comparison.ok ? 1 : 0;
    if (options.jsonPath) writeRunJson(options.jsonPath, run, res, code);
    if (!options.keep) return code;
    return await stayUp(up, options, res, io, stopped);
  });
}

/**
 * `npm run dev -- --log FILE`: the stack up with stand-ins that know a log's calls, payments and
 * rates instead of the demo's, nothing published: the user publishes the log (or any other) and
 * watches the findings come, the scheduler ticking every minute, until a signal or a crash.
 */
export async function runDevWithWorld(options: StackOptions, world: DemoWorld, logPath: string, io: Console = consoleIo): Promise<number> {
  return underSignals(io, 0, async (res, stopped) => {
    const up = await bringUp(options, world, undefined, res, io);
    io.progress(`stack up: ${[...up.served.keys()].join(', ')}; the stand-ins know ${world.calls.length} calls, ${world.paymentIntents.length} payment intents and the rates of ${Object.keys(world.rates.days).length} days of ${logPath}`);
    io.report(`\nPublish the log (after the export below): node dist/cli/event-recovery.js publish ${logPath} --rate 50\n`);
    return await stayUp(up, options, res, io, stopped);
  });
}

/**
 * What a run of the stack does around its work: the resources it holds, closed on SIGINT or
 * SIGTERM (the run then ends with `sigintCode` for SIGINT, 130 otherwise; `stopped` resolves with
 * it), on a failure (exit 1, its text shown) and at the end, whatever happened.
 */
async function underSignals(io: Console, sigintCode: number, work: (res: Resources, stopped: Promise<number>) => Promise<number>): Promise<number> {
  // The stack's own clients talk to the emulators only: no metadata server to look for.
  process.env.METADATA_SERVER_DETECTION ??= 'none';
  const res = new Resources();
  let signalled: ((code: number) => void) | undefined;
  const stopped = new Promise<number>((resolve) => (signalled = resolve));
  onSignal(async (signal) => {
    io.progress(`\n${signal}: stopping the emulators and functions...`);
    await res.close();
    const code = signal === 'SIGINT' ? sigintCode : 130;
    signalled?.(code);
    return code;
  });
  try {
    return await work(res, stopped);
  } catch (err) {
    io.progress(failureText(err));
    return 1;
  } finally {
    await res.close();
  }
}

/** A stack brought up for someone else's traffic (tools/load): what runs, how to take it down. */
export interface StartedStack {
  readonly up: RunningStack;
  readonly functions: readonly ServedFunction[];
  /** The environment that points a client (a replay of the same log) at the stand-ins. */
  readonly standInEnv: Readonly<Record<string, string>>;
  close(): Promise<void>;
}

/**
 * Brings the stack up with stand-ins that know `world` (a log's payments, calls and rates) and
 * returns it running, without publishing anything: the caller publishes, watches and closes.
 */
export async function startStack(options: StackOptions, world: DemoWorld, io: Console = consoleIo): Promise<StartedStack> {
  process.env.METADATA_SERVER_DETECTION ??= 'none';
  const res = new Resources();
  try {
    const up = await bringUp(options, world, undefined, res, io);
    return { up, functions: res.functions, standInEnv: up.standInEnv, close: () => res.close() };
  } catch (err) {
    await res.close();
    throw err;
  }
}

/** Starts the stand-ins, the emulators and the functions, then creates the topology and the observers. */
async function bringUp(
  options: StackOptions,
  world: DemoWorld,
  upstream: UpstreamFaults | undefined,
  res: Resources,
  io: Console,
  volumeHistory: readonly HourlyRow[] = [],
): Promise<Running> {
  const runDir = mkdtempSync(join(tmpdir(), LOG_PREFIX));
  pruneOldRuns(runDir);
  const logDir = join(runDir, 'logs');
  mkdirSync(logDir);
  // What the stack archives, as hourly series (BigQuery's archive and view in GCP), over the past weeks the demo brings.
  const archive = new VolumeArchive(join(runDir, 'volume-hourly-series.json'), volumeHistory);
  const { stateStore, instance: bigtableInstance } = stateStoreOf(options.stateStore, process.env);
  const onBigtable = stateStore === 'bigtable';
  io.progress(`starting the ${onBigtable ? 'Pub/Sub, Firestore and Bigtable' : 'Pub/Sub and Firestore'} emulators and the functions (state store: ${stateStore})...`);
  const standInEnv: Record<string, string> = {};
  for (const stand of options.standIns ?? STAND_INS) {
    const running = await stand.start(world, upstream);
    res.standIns.push(running);
    Object.assign(standInEnv, stand.env(running.url));
  }
  // Everything starts at once (the functions reach the emulators only when a message arrives), on
  // the ports planned for the emulators. An emulator that loses its port to another process before
  // binding it starts on another one; the functions are then started again, told the new one.
  // dlq-triage's operator API takes a bearer token locally: a fresh one each run.
  const triageToken = randomBytes(24).toString('hex');
  // Pushes carry the push identity's ID token, signed by a loopback issuer that dlq-triage trusts
  // as GCP's functions trust Google's (tools/local/id-tokens.ts).
  const issuer = await LocalIdTokenIssuer.start();
  res.standIns.push(issuer);
  const pushAuth = {
    DLQ_PUSH_SERVICE_ACCOUNT: LocalIdTokenIssuer.PUSH_ACCOUNT,
    DLQ_AUTH_CERTS_URL: issuer.certsUrl,
  };
  const planned = await Promise.all([freePort(), freePort(), ...(onBigtable ? [freePort()] : [])]);
  const emulatorAt = (name: Emulator['name'], label: string, port: number) => {
    const ports = [port];
    return startEmulator(name, {
      pickPort: () => Promise.resolve(ports.shift() ?? freePort()),
      onBindRetry: (lost) => io.progress(`  the ${label} emulator lost port ${lost} to another process; starting it on another`),
    });
  };
  const hostsAt = (pubsub: string, firestore: string, bigtable: string | undefined): Running['hosts'] => ({
    pubsub: { host: pubsub },
    firestore: { host: firestore },
    ...(bigtable !== undefined ? { bigtable: { host: bigtable } } : {}),
  });
  const plannedHosts = hostsAt(`127.0.0.1:${planned[0]}`, `127.0.0.1:${planned[1]}`, onBigtable ? `127.0.0.1:${planned[2]}` : undefined);
  const envFor = (h: Running['hosts']) => ({
    ...process.env,
    // On Firestore no Bigtable emulator runs: none inherited from this environment either.
    BIGTABLE_EMULATOR_HOST: undefined,
    ...emulatorEnv(h.pubsub, h.firestore, options.projectId, h.bigtable),
    STATE_STORE: stateStore,
    BIGTABLE_INSTANCE: bigtableInstance,
    ...standInEnv,
    ...localScale(process.env),
    ...localVolume(archive.path),
    DLQ_API_AUTH: 'token',
    DLQ_API_TOKEN: triageToken,
    ...pushAuth,
    ...SERVED_AS_IN_GCP,
  });
  const serveAll = (env: NodeJS.ProcessEnv) =>
    Promise.all(
      topology.functions.map(async (f) => {
        const outcome = await serveFunction(f.name, { source: options.source, env, logDir });
        if (outcome.kind === 'served') res.functions.push(outcome.fn);
        return outcome;
      }),
    );
  let [, outcomes] = await Promise.all([
    Promise.all([
      emulatorAt('pubsub', 'Pub/Sub', planned[0]!),
      emulatorAt('firestore', 'Firestore', planned[1]!),
      ...(onBigtable ? [emulatorAt('bigtable', 'Bigtable', planned[2]!)] : []),
    ]).then((e) => (res.emulators = e)),
    serveAll(envFor(plannedHosts)),
  ]);
  const [pubsubEmulator, firestoreEmulator, bigtableEmulator] = res.emulators as [Emulator, Emulator, Emulator | undefined];
  const hosts = hostsAt(pubsubEmulator.host, firestoreEmulator.host, bigtableEmulator?.host);
  // The tables exist before the gateway pushes anything: a function reaches its store only for a message.
  if (hosts.bigtable) await createTables(hosts.bigtable.host, bigtableInstance);
  if (hosts.pubsub.host !== plannedHosts.pubsub.host || hosts.firestore.host !== plannedHosts.firestore.host || hosts.bigtable?.host !== plannedHosts.bigtable?.host) {
    const stale = res.functions.splice(0);
    await Promise.all(stale.map((f) => f.stop()));
    outcomes = await serveAll(envFor(hosts));
  }
  for (const fn of res.functions) fn.onDeath((death) => io.progress(deathText(fn, death)));
  for (const o of outcomes) {
    if (o.kind !== 'absent') continue;
    const subs = resolveSubscriptions(topology).filter((s) => s.function === o.name).map((s) => s.name);
    const why = o.reason ?? `not in ${options.source} yet`;
    io.progress(`  ${o.name}: ${why}; skipped, its subscription${subs.length === 1 ? '' : 's'} (${subs.join(', ')}) created as pull`);
  }
  const served = new Map(res.functions.map((f) => [f.name, f]));
  const ingest = ingestSubscription(topology).fn;
  if (!served.has(ingest)) throw new StackError(`${ingest} is not registered by ${options.source}: nothing would read ${TOPICS.raw}`);

  const pubsub = new PubSub({ projectId: options.projectId, apiEndpoint: hosts.pubsub.host });
  res.pubsub = pubsub;
  const subscriptions = await ensureTopology(pubsub, topology);
  const observer = await TopicObserver.start(
    pubsub,
    topology.topics.map((t) => t.name),
  );
  res.observer = observer;
  observer.onMessage((m) => archive.archive(m));
  // The gateway delivers the push subscriptions of the served functions (at least once) and records what each acknowledged.
  const delivered = subscriptions.filter((sub) => sub.delivery === 'push' && sub.function !== undefined && served.has(sub.function));
  const gateway = await PushGateway.start({
    pubsub,
    subscriptions: delivered,
    endpoint: (fn) => served.get(fn)?.url,
    authorization: pushTokens(issuer),
    ...(options.measure?.functionConcurrency ? { functionConcurrency: options.measure.functionConcurrency } : {}),
  });
  res.gateway = gateway;
  const pushes = delivered.map((sub) => ({ sub, gateway }));
  const triageFn = served.get('dlq-triage');
  // A getter: should its port be taken between two instances, the function serves on another.
  const triage = triageFn && {
    get url() {
      return triageFn.url;
    },
    token: triageToken,
  };
  const skipped = new Map(outcomes.flatMap((o) => (o.kind === 'absent' ? [[o.name, o.reason] as const] : [])));
  return { hosts, stateStore, bigtableInstance, logDir, served, skipped, pubsub, observer, pushes, standInEnv, archive, ...(triage ? { triage } : {}) };
}

/**
 * Publishes the demo slice by slice, each once every function is done with the one before, then
 * lets the scheduler tick once, then waits until the pipeline is quiet. On timeout, says what
 * is still outstanding instead of throwing.
 */
async function playDemo(up: Running, demo: Demo, options: StackOptions, res: Resources, io: Console): Promise<{ tracker: Progress; unfinished?: string[] }> {
  const tracker = new Progress(up.observer, up.pushes);
  const deadline = Date.now() + options.timeoutMs;
  const watch = () => assertRunning(res.functions);
  io.progress(`publishing the demo stream: ${demo.messages.length} messages, ${demo.faults.length} faults injected (and ${demo.upstreamFaults.length} at the stand-ins)...`);
  try {
    const raw = producerTopic(up.pubsub, TOPICS.raw);
    for (const { index, messages } of slices(demo, sliceWidth(options.slicesInFlight))) {
      const started = Date.now();
      await waitUntil(() => tracker.doneThrough(index - options.slicesInFlight), deadline, watch);
      const ids = await Promise.all(messages.map((m) => publishPayload(raw, m.data)));
      for (const id of ids) tracker.published(id, index);
      if (options.verbose) io.progress(`  slice ${index}: ${messages.length} messages, published after waiting ${Date.now() - started} ms; ${tracker.latencies()}`);
    }
    await waitUntil(() => tracker.caughtUp(), deadline, watch);
    if (consumesTicks(up)) await tickAndWait(up, deadline, watch);
    io.progress('waiting for the pipeline to go quiet...');
    const quiet = () => tracker.caughtUp() && Date.now() - tracker.lastActivity() >= options.quietMs;
    await waitUntil(quiet, deadline, watch);
    const leftover = outboxLeftover(up);
    if (leftover !== undefined) {
      // What an instance of gap-detector that died wrote to its outbox and did not publish goes out
      // with the first tick once it is the outbox grace old: in GCP, Cloud Scheduler's next ticks.
      io.progress(`gap-detector died during the run: ticking again once what it left in its outbox is ${localOutboxGraceMs(process.env) / 1000} s old, as Cloud Scheduler would...`);
      await waitUntil(() => Date.now() >= leftover, deadline, watch);
      await tickAndWait(up, deadline, watch);
      await waitUntil(quiet, deadline, watch);
    }
    return { tracker };
  } catch (err) {
    if (!(err instanceof TimeoutError)) throw err;
    return { tracker, unfinished: tracker.outstanding(res.functions) };
  }
}

function summarize(
  up: Running,
  demo: Demo,
  tracker: Progress,
  unfinished: string[] | undefined,
  timings: StackRun['timings'],
  projectId: string,
  triage: TriageSnapshot | undefined,
): StackRun {
  const findings = collectFindings(up.observer);
  return {
    projectId,
    stateStore: up.stateStore,
    demo,
    published: tracker.publishedCount,
    counts: up.observer.counts(),
    findings,
    comparison: compareWithFaults([...demo.faults, ...demo.upstreamFaults], findings, new Set(up.served.keys())),
    functions: topology.functions.map(({ name }) => {
      const fn = up.served.get(name);
      if (!fn) {
        const reason = up.skipped.get(name);
        return reason ? { name, served: false, reason } : { name, served: false };
      }
      const deliveries = up.pushes.filter((p) => p.sub.function === name).map((p) => p.gateway.stats(p.sub.name));
      return {
        name,
        served: true,
        logPath: fn.logPath,
        lines: fn.activity.lines,
        plainLines: fn.activity.plain,
        errors: fn.activity.errors,
        pushes: deliveries.reduce((n, d) => n + d.requests, 0),
        acked: deliveries.reduce((n, d) => n + d.acked.size, 0),
        failed: deliveries.reduce((n, d) => n + d.failed, 0),
        deaths: fn.deaths.map((d) => ({ at: d.at, cause: d.cause, uptimeMs: d.uptimeMs, restarted: d.restarted, lastLines: d.lastLines })),
      };
    }),
    logDir: up.logDir,
    timings,
    ...(unfinished ? { unfinished } : {}),
    ...(triage ? { triage } : {}),
  };
}

/** `npm run dev`: prints how to publish, echoes each new finding, ticks like Cloud Scheduler, until a signal or a crash. */
async function stayUp(up: Running, options: StackOptions, res: Resources, io: Console, stopped: Promise<number>): Promise<number> {
  io.report(devInstructions(options.projectId, up.hosts, up.logDir, up.triage));
  if (consumesTicks(up)) res.timers.push(setInterval(() => void tick(up).catch(() => undefined), TICK_INTERVAL_MS));
  // A finding counts once per id (DESIGN §4): volume-monitor's ticks repeat the hours they judged.
  const echoed = new Set<string>(up.observer.messages(TOPICS.findings).flatMap((m) => (m.attributes.finding_id ? [m.attributes.finding_id] : [])));
  up.observer.onMessage((m) => {
    if (m.topic !== TOPICS.findings) return;
    const id = m.attributes.finding_id;
    if (id !== undefined) {
      if (echoed.has(id)) return;
      echoed.add(id);
    }
    const f = parseFinding(m.data);
    io.report(`${new Date().toISOString().slice(11, 19)}  finding  ${f ? `${f.kind}/${f.action}  ${describeFinding(f)}` : maskText(m.data.toString('utf8'))}\n`);
  });
  return Promise.race([stopped, crashed(res, io)]);
}

/**
 * The events in flight span less than the gap grace period (the slices in flight, plus the
 * moment an event on time takes to arrive), so no reordering can make a gap look older than it
 * is; and a copy re-sent a grace period after its original (demo.ts) lands at least
 * `inFlight` slices later, so it goes out only once its original went through.
 */
export function sliceWidth(inFlight: number): number {
  return Math.floor((GAP_GRACE_MS - DELIVERY_JITTER_MS) / inFlight);
}

/** The demo in slices of arrival time; `index` counts slice widths from the stream's start, empty ones too. */
function* slices(demo: Demo, sliceMs: number): Generator<{ index: number; messages: DemoMessage[] }> {
  let current: DemoMessage[] = [];
  let index = 0;
  for (const m of demo.messages) {
    const i = Math.max(0, Math.floor((m.arrivalMs - demo.startMs) / sliceMs));
    if (i !== index && current.length > 0) {
      yield { index, messages: current };
      current = [];
    }
    index = i;
    current.push(m);
  }
  if (current.length > 0) yield { index, messages: current };
}

/**
 * One scheduler tick (gap-detector's and volume-monitor's `ticks`); Cloud Scheduler sends one a
 * minute in GCP. The archive's hourly series are written first: the tick judges what was archived before it.
 */
function tick(up: Running): Promise<string> {
  up.archive.write();
  return up.pubsub.topic(TOPICS.ticks).publishMessage({ json: { scheduled_at: new Date().toISOString(), by: 'local-stack' } });
}
const TICK_INTERVAL_MS = 60_000;

/**
 * A tick, waited for until every function that takes ticks has acknowledged it: a tick's work
 * (folds, sweeps, an outbox a dead instance left) can outlast the quiet period, and what it
 * publishes must be in the report.
 */
async function tickAndWait(up: Running, deadline: number, watch: () => void): Promise<void> {
  const id = await tick(up);
  const takers = up.pushes.filter((p) => p.sub.topic === TOPICS.ticks);
  await waitUntil(() => takers.every((p) => p.gateway.stats(p.sub.name).acked.has(id)), deadline, watch);
}

/** When the outbox of an instance that died is old enough for a tick to publish it; undefined when none died. */
function outboxLeftover(up: Running): number | undefined {
  const deaths = up.pushes.filter((p) => p.sub.topic === TOPICS.ticks).flatMap((p) => up.served.get(p.sub.function!)?.deaths ?? []);
  return deaths.length === 0 ? undefined : Math.max(...deaths.map((d) => d.at)) + localOutboxGraceMs(process.env) + 1000;
}

/**
 * The functions run as a production deployment does: with NODE_ENV=production the Functions
 * Framework prints no "Serving function..." banner (whatever else it prints becomes a JSON entry:
 * shared/structured-stdio).
 */
const SERVED_AS_IN_GCP = { NODE_ENV: 'production' } as const;

function consumesTicks(up: Running): boolean {
  return up.pushes.some((p) => p.sub.topic === TOPICS.ticks);
}

/**
 * Settings that follow the local redelivery pace: the deduplicator's claim lease must run out
 * before a redelivery's attempts do (a claim held by an instance that died is taken over by a
 * redelivery once its lease ends), as the lease of 120 s does under GCP's 10-600 s backoff.
 */
/**
 * volume-monitor's local adapter (functions/volume-monitor/index.ts): the detector in code over
 * the hourly series the stack archives. Every tick asks about the closed hours (in GCP only the
 * first tick after an hour closes does): the stack ticks once per run and a minute apart in dev
 * mode, and the findings' ids are derived from series and hour, so a repeat is counted once.
 */
function localVolume(seriesFile: string): Record<string, string> {
  return { VOLUME_SERIES_FILE: seriesFile, TICK_INTERVAL_MINUTES: '60' };
}

/**
 * The local stack's clocks run LOCAL_BACKOFF_SCALE times faster than GCP's where a setting only
 * waits out a failure: the retry backoff (push-gateway.ts), the deduplicator's claim lease, and
 * how old gap-detector's outbox leftovers must be before a tick publishes them (a minute in GCP:
 * a run with a gap-detector death waited a whole minute for it). A setting in this environment wins.
 */
function localScale(env: NodeJS.ProcessEnv): Record<string, string> {
  return {
    DEDUP_LEASE_SECONDS: env.DEDUP_LEASE_SECONDS ?? String(DEFAULT_DEDUP_CONFIG.leaseMs / 1000 / LOCAL_BACKOFF_SCALE),
    GAP_OUTBOX_GRACE_SECONDS: String(localOutboxGraceMs(env) / 1000),
  };
}

/** The outbox grace the stack gives gap-detector (localScale). */
function localOutboxGraceMs(env: NodeJS.ProcessEnv): number {
  return env.GAP_OUTBOX_GRACE_SECONDS !== undefined ? Number(env.GAP_OUTBOX_GRACE_SECONDS) * 1000 : DEFAULT_GAP_DETECTOR_CONFIG.outboxGraceMs / LOCAL_BACKOFF_SCALE;
}

/** A function that died is started again (see ./functions); only one that keeps dying stops the stack. */
function assertRunning(functions: readonly ServedFunction[]): void {
  for (const f of functions) if (f.failure) throw f.failure;
}

/** Settles with exit code 1 when a served function died and could not be started again (keep mode watches for that). */
function crashed(res: Resources, io: Console): Promise<number> {
  return new Promise((resolve) => {
    for (const f of res.functions) {
      f.onDeath(() => {
        if (res.isClosing || !f.failure) return;
        io.progress(failureText(f.failure));
        resolve(1);
      });
    }
  });
}

/** What the stack says when an instance dies: the cause and the dead process's own last lines. */
function deathText(f: ServedFunction, death: FunctionDeath): string {
  const what = death.restarted
    ? `a new instance serves on the same port; the messages it held are redelivered`
    : `not started again: ${f.failure?.message ?? 'it could not start'}`;
  const lines = death.lastLines.slice(-8).map((l) => `  | ${maskText(l)}`);
  return [`${f.name}: instance ${death.pid} died (${death.cause}) after ${(death.uptimeMs / 1000).toFixed(1)} s; ${what}. Its last lines:`, ...(lines.length ? lines : ['  | (none)'])].join('\n');
}

/** Writes the report page; says why on stderr and goes on without one when it cannot. */
function writePage(path: string, run: StackRun, observer: TopicObserver, io: Console): string | undefined {
  const bodies = (topic: string) => observer.messages(topic).map((m) => m.data.toString('utf8'));
  try {
    writeFileSync(path, renderStackPage(run, { raw: bodies(TOPICS.raw), valid: [...bodies(TOPICS.unique), ...bodies(TOPICS.duplicates)], unique: bodies(TOPICS.unique), corrected: bodies(TOPICS.corrected) }, verdict(run)[0]!));
    return path;
  } catch (err) {
    io.progress(`event-recovery: the report page ${path} was not written: ${describeIoError(err)}`);
    return undefined;
  }
}

function writeRunJson(path: string, run: StackRun, res: Resources, exitCode: number): void {
  const { demo, ...rest } = run;
  // Process ids are also process-group ids: a test can check that none is left.
  const processes = [
    ...res.emulators.map((e) => ({ name: `${e.name}-emulator`, pid: e.pid, host: e.host })),
    ...res.functions.map((f) => ({ name: f.name, pid: f.process.pid, url: f.url, deaths: f.deaths.length })),
  ];
  // What each message on the output topics was about, one entry per message: a test counts doubles by it.
  // (events-unique: the event id and the events-raw delivery it came from, `ID INGEST_ID`).
  const about = (topic: string, attribute: (m: Seen) => string) => (res.observer?.messages(topic) ?? []).map(attribute);
  const ids = {
    [TOPICS.unique]: about(TOPICS.unique, (m) => `${m.attributes.id} ${m.attributes[INGEST_ID]}`),
    [TOPICS.findings]: about(TOPICS.findings, (m) => m.attributes.finding_id ?? ''),
    [TOPICS.corrected]: about(TOPICS.corrected, (m) => m.attributes.id ?? ''),
  };
  writeFileSync(path, `${JSON.stringify({ exitCode, ...rest, faults: [...demo.faults, ...demo.upstreamFaults], processes, ids }, null, 2)}\n`);
}

function failureText(err: unknown): string {
  if (err instanceof FunctionStartError) {
    return `event-recovery: ${err.message}\n${err.tail.map((l) => `  | ${l}`).join('\n')}\n`;
  }
  if (err instanceof StackError || (err as Error).name === 'EmulatorUnavailableError') return `event-recovery: ${(err as Error).message}\n`;
  return `event-recovery: ${(err as Error).stack ?? String(err)}\n`;
}
