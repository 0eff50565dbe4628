/**
 * The deploy rehearsal: a first `terraform apply` of infra/, as far as it can go offline. The
 * source archive is selected as infra/main.tf selects it, unpacked into an empty folder and built
 * with the Node.js buildpack's steps; then every function of the manifest is started from that
 * folder with its entry point and exactly the variables Terraform gives it (names read from the
 * HCL), on the emulators, and each of its push subscriptions is sent a push body as GCP wraps
 * it: each must answer 2xx and route the message (publish to its topics or keep its state).
 * Mutated copies show the rehearsal failing where a deploy would.
 */
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Instance } from '@google-cloud/bigtable';
import { Firestore } from '@google-cloud/firestore';
import { PubSub, type Message } from '@google-cloud/pubsub';
import { buildDemo } from '../../cli/generate/demo';
import { loadInfra, type Infra } from '../../tools/infra/check';
import { archiveFiles, archiveSpec, buildpack, deployedFunctions, filterMatches, RehearsalError, run, unpackArchive, type DeployedFunction } from '../../tools/infra/rehearsal';
import { STAND_INS } from '../../tools/local/stand-ins';
import { LocalIdTokenIssuer, pushTokens } from '../../tools/local/id-tokens';
import { DEAD_LETTER_ATTRIBUTES } from '../../shared/dead-letters';
import { Finding, findingAttributes } from '../../shared/findings';
import { eventAttributes } from '../../shared/attributes';
import { pushBody } from '../../shared/pubsub/push';
import { evaluateTopology, INFRA, MANIFEST, ROOT, type TopologyOutputs } from '../support/infra';
import { localBigQuery, startDeployed } from '../support/deploy';
import { DEFAULT_MONITOR_CONFIG, planWindow } from '../../functions/volume-monitor/core';
import { Env as deduplicatorEnv } from '../../functions/deduplicator';
import { bigtableInstance, ensureTables } from '../../shared/adapters/bigtable';
import { blocks } from '../../tools/infra/check';

jest.setTimeout(15 * 60_000);

const HOUR = 3_600_000;
const manifest = () => JSON.parse(readFileSync(MANIFEST, 'utf8')) as { functions: Array<{ name: string; secrets?: string[] }>; subscriptions: Array<Record<string, unknown>> };

interface Captured {
  readonly topic: string;
  readonly data: Buffer;
  readonly attributes: Record<string, string>;
}

/** The built archive, shared by every test here: one npm ci. */
let built: string;
let infra: Infra;
let topology: TopologyOutputs;
let buildMs = 0;
const standIns: Array<{ close(): Promise<void> }> = [];
const standInEnv: Record<string, string> = {};
let bigquery: Awaited<ReturnType<typeof localBigQuery>>;
/** Google's ID-token issuer, on loopback: GCP's push attaches the push identity's token, which dlq-triage verifies. */
let issuer: LocalIdTokenIssuer;
const demo = buildDemo({ now: Date.now() });

beforeAll(async () => {
  infra = await loadInfra(INFRA);
  topology = evaluateTopology(manifest());
  const spec = archiveSpec(infra);
  built = mkdtempSync(join(tmpdir(), 'deploy-rehearsal-'));
  unpackArchive(spec, archiveFiles(spec), built);
  const t0 = Date.now();
  const steps = await buildpack(built, { npmFlags: ['--offline'] });
  buildMs = Date.now() - t0;
  process.stdout.write(`deploy rehearsal: build ${steps.map((s) => `${s.name} ${(s.ms / 1000).toFixed(1)} s`).join(', ')}\n`);
  for (const stand of STAND_INS) {
    const running = await stand.start(demo.world);
    standIns.push(running);
    Object.assign(standInEnv, stand.env(running.url));
  }
  issuer = await LocalIdTokenIssuer.start();
  standIns.push(issuer);
  // The hour volume-monitor is told was flagged: closed well before the tick.
  bigquery = await localBigQuery(() => Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR);
});

afterAll(async () => {
  await Promise.all(standIns.map((s) => s.close()));
  await bigquery?.close();
});

/**
 * The default of a root variable of infra/ (variables.tf), as a deploy that does not set it gets it:
 * the rehearsal deploys with the defaults, e.g. state_store's.
 */
function variableDefault(name: string): string {
  for (const [file, json] of infra.files) {
    if (file.includes('/')) continue;
    const v = json.variable as Record<string, unknown> | undefined;
    const body = v?.[name] === undefined ? undefined : blocks(v as Record<string, unknown>, name)[0];
    if (body && typeof body.default === 'string') return body.default;
  }
  throw new RehearsalError('environment', `infra/ has no string variable "${name}" with a default`);
}

/** Values for the environment names Terraform gives; a name without one stops the rehearsal. */
function valueOf(name: string, project: string, prefix: string, instanceId: string): string {
  const values: Record<string, string> = {
    // The state store a deploy with the defaults keeps (variables.tf state_store) and the instance
    // module.topology names for this prefix (the one the Bigtable module creates).
    STATE_STORE: variableDefault('state_store'),
    BIGTABLE_INSTANCE: instanceId,
    RESOURCE_PREFIX: prefix,
    GOOGLE_CLOUD_PROJECT: project,
    VOLUME_PROJECT: project,
    VOLUME_DATASET: 'event_recovery',
    VOLUME_VIEW: 'volume_hourly_series',
    VOLUME_MODEL: 'volume_model',
    VOLUME_ANOMALIES_TABLE: 'volume_anomalies',
    BIGQUERY_LOCATION: 'EU',
    DLQ_PUSH_SERVICE_ACCOUNT: LocalIdTokenIssuer.PUSH_ACCOUNT,
    DLQ_OPERATORS: 'group:event-recovery-ops@example.com',
  };
  const v = values[name];
  if (v === undefined) throw new RehearsalError('environment', `Terraform sets ${name}: give the rehearsal a value for it (valueOf)`);
  return v;
}

/**
 * The environment of one function: the names Terraform gives it, the secrets with the stand-ins'
 * credentials (or a placeholder), and where the wire goes: the emulators, the local BigQuery and
 * the stand-ins' base URLs (a stand-in's variable that is a manifest secret is a credential, and
 * reaches the function only when Terraform mounts it).
 */
function environmentOf(fn: DeployedFunction, project: string, prefix: string, instanceId: string, placeholders: boolean): Record<string, string> {
  const secretNames = new Set(Object.values(topology.secrets).map((s) => s.env));
  const env: Record<string, string> = {
    PUBSUB_EMULATOR_HOST: process.env.PUBSUB_EMULATOR_HOST!,
    FIRESTORE_EMULATOR_HOST: process.env.FIRESTORE_EMULATOR_HOST!,
    // The integration setup's Bigtable emulator (test/support/global-setup.ts) stands in for the instance.
    BIGTABLE_EMULATOR_HOST: process.env.BIGTABLE_EMULATOR_HOST!,
    BIGQUERY_EMULATOR_HOST: bigquery.host,
    METADATA_SERVER_DETECTION: 'none',
    DLQ_AUTH_CERTS_URL: issuer.certsUrl,
  };
  for (const [k, v] of Object.entries(standInEnv)) if (!secretNames.has(k)) env[k] = v;
  for (const name of fn.environment) env[name] = valueOf(name, project, prefix, instanceId);
  for (const name of fn.secrets) env[name] = placeholders ? topology.secret_placeholder : (standInEnv[name] ?? `rehearsal-${name.toLowerCase()}-value`);
  return env;
}

/** Messages Pub/Sub, the producers or the scheduler put on a topic (no function publishes them first). */
function seeds(topic: string): Captured[] {
  const event = (type: string) => {
    const m = demo.messages.map((x) => safeJson(x.data)).find((e) => e?.type === type && typeof e.id === 'string');
    if (!m) throw new Error(`the demo has no ${type} event`);
    return { topic, data: Buffer.from(JSON.stringify(m)), attributes: eventAttributes(m as { type: string; source: string; id: string }) };
  };
  switch (topic) {
    case 'events-raw':
      return [event('card.scanned'), { topic, data: Buffer.from('{"specversion":"1.0","id":"broken-1"'), attributes: {} }];
    case 'events-duplicates':
      // The deduplicator forwards a duplicate it drops (its sequence number still counts); the
      // rehearsal's one pass publishes no duplicate, so the event is given as forwarded.
      return [event('card.scanned')];
    case 'ticks':
      // As infra/main.tf's Cloud Scheduler job publishes it.
      return [{ topic, data: Buffer.from(JSON.stringify({ tick: 'cloud-scheduler' })), attributes: { source: 'cloud-scheduler' } }];
    case 'dead-letters': {
      const e = event('lead.created');
      return [
        {
          ...e,
          attributes: {
            ...e.attributes,
            [DEAD_LETTER_ATTRIBUTES.subscription]: 'deduplicator-events-raw',
            [DEAD_LETTER_ATTRIBUTES.subscriptionProject]: 'p',
            [DEAD_LETTER_ATTRIBUTES.deliveryCount]: '5',
            [DEAD_LETTER_ATTRIBUTES.topicPublishTime]: new Date().toISOString(),
          },
        },
      ];
    }
    default:
      return [];
  }
}

/** What a subscription gets when nothing upstream published a message its filter passes. */
function fallback(topic: string, filter: string | null): Captured[] {
  const type = filter ? /^attributes\.type\s*=\s*"([^"]+)"$/.exec(filter)?.[1] : undefined;
  if (type && topic.startsWith('events-')) {
    const e = demo.messages.map((x) => safeJson(x.data)).find((x) => x?.type === type);
    if (e) return [{ topic, data: Buffer.from(JSON.stringify(e)), attributes: eventAttributes(e as { type: string; source: string; id: string }) }];
  }
  if (topic === 'findings') {
    const f = Finding.parse({ kind: 'call_duration_mismatch', action: 'review', event_id: 'call-1', type: 'call.completed', source: '//calls/twilio', field: 'duration_seconds', expected: 30, actual: 0, reason: 'a completed call of 0 s' });
    return [{ topic, data: Buffer.from(JSON.stringify(f)), attributes: findingAttributes(f, 'finding-rehearsal-1') }];
  }
  return [];
}

function safeJson(s: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(s) as unknown;
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

interface Rehearsed {
  readonly function: string;
  readonly pushes: ReadonlyArray<{ subscription: string; status: number }>;
  readonly published: readonly Captured[];
  readonly documents: number;
  /** When its pushes went out and the last was answered. */
  readonly pushedAt: { readonly from: number; readonly to: number };
  /** False for a function fed by ticks alone when no tick was due for it. */
  readonly effectExpected: boolean;
  /** With placeholder secrets: the failure records of the deliveries it failed (JSON). */
  readonly failures: readonly string[];
  /** Rows in the Bigtable tables its manifest entry lists, on the emulator, once it had answered. */
  readonly bigtableRows: number;
}

/**
 * Whether a tick pushed between `at.from` and `at.to` has work for a function fed by ticks alone:
 * volume-monitor asks BigQuery only on the first tick after an hour closed (its core's
 * planWindow), so only when both ends fell in that minute is its effect certain.
 */
function tickIsDue(fn: string, at: { from: number; to: number }): boolean {
  return fn === 'volume-monitor' && [at.from, at.to].every((t) => planWindow(t, DEFAULT_MONITOR_CONFIG) !== undefined);
}

interface Staged {
  readonly fn: DeployedFunction;
  readonly project: string;
  readonly pubsub: PubSub;
  readonly firestore: Firestore;
  /** The instance Terraform names, on the emulator, with the function's tables made from the manifest. */
  readonly bigtable: { readonly instance: Instance; readonly tables: readonly string[] };
  readonly published: Captured[];
  readonly close: () => Promise<void>;
  started?: Awaited<ReturnType<typeof startDeployed>>;
}

/**
 * Starts every function of `fns` from `dir` (all at once), each in a project of its own on the
 * emulators so that what it writes is its own, then, in pipeline order, pushes each of its push
 * subscriptions a message: what an upstream function published to that topic and the filter
 * passes, else what the producers, Pub/Sub or the scheduler would put there. Fails, naming the
 * function, on a start-up failure, a non-2xx answer (unless `placeholders`: then a failed
 * delivery must leave its failure record), or a function that routed nothing.
 */
async function rehearse(dir: string, fns: readonly DeployedFunction[], topo: TopologyOutputs, placeholders = false): Promise<Rehearsed[]> {
  const run = randomBytes(3).toString('hex');
  const prefix = `r${run}-`;
  // What Terraform names the instance for this prefix (module.topology, evaluated by Terraform).
  const instanceId = evaluateTopology(manifest(), prefix).bigtable_instance_id;
  const captured: Captured[] = [];
  const staged = await Promise.all(fns.map((fn, i) => stage(fn, topo, `rh-${run}-${i}`, prefix, instanceId, captured)));
  try {
    const starts = await Promise.allSettled(
      staged.map(async (s) => (s.started = await startDeployed(dir, s.fn, environmentOf(s.fn, s.project, prefix, instanceId, placeholders), `${prefix}${s.fn.name}`))),
    );
    const failed = starts.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const results: Rehearsed[] = [];
    const pushSubs = Object.entries(topo.push_subscriptions);
    const publishedTopics = new Set(Object.values(topo.functions).flatMap((f) => f.publishes));
    // Pipeline order: functions fed by producers first, then those fed by what others published.
    const fed = (s: Staged) =>
      pushSubs.filter(([, x]) => x.function === s.fn.name).every(([, x]) => !publishedTopics.has(x.topic) || seeds(x.topic).length > 0 || captured.some((c) => c.topic === x.topic && filterMatches(x.filter, c.attributes)));
    const pending = [...staged];
    while (pending.length) {
      const s = pending.splice(Math.max(0, pending.findIndex(fed)), 1)[0]!;
      results.push(await pushAndRoute(s, topo, prefix, captured, placeholders));
    }
    return results;
  } finally {
    await Promise.all(staged.map(async (s) => (await s.started?.stop(), await s.close())));
  }
}

/**
 * The function's project: every topic, an observer on each topic it publishes to, and the Bigtable
 * tables its manifest entry lists, made in the instance Terraform names as the stack and the tests
 * make them (ensureTables, from module.topology's tables and families: in GCP Terraform makes them).
 * The tables are made through the client the functions build (shared/adapters/bigtable.ts): against
 * an emulator it keeps the project placeholder `{{projectId}}` whatever GOOGLE_CLOUD_PROJECT says
 * (@google-cloud/bigtable asks for the project only without a custom endpoint), so a client given
 * the function's project would make tables the function never finds. The instance, named for the
 * run's prefix, keeps runs apart.
 */
async function stage(fn: DeployedFunction, topo: TopologyOutputs, project: string, prefix: string, bigtableInstanceId: string, captured: Captured[]): Promise<Staged> {
  const pubsub = new PubSub({ projectId: project });
  const firestore = new Firestore({ projectId: project });
  const instance = bigtableInstance(bigtableInstanceId);
  const tables = topo.functions[fn.name]!.bigtable;
  await ensureTables(
    instance,
    tables.map((table) => ({ table, families: topo.bigtable_tables[table]! })),
  );
  const published: Captured[] = [];
  const subscriptions: Array<{ close(): Promise<void> }> = [];
  for (const t of Object.keys(topo.topics)) await pubsub.createTopic(`${prefix}${t}`);
  for (const t of topo.functions[fn.name]!.publishes) {
    const [sub] = await pubsub.topic(`${prefix}${t}`).createSubscription(`${prefix}${t}-observer`);
    sub.on('message', (m: Message) => {
      m.ack();
      const c = { topic: t, data: m.data, attributes: { ...m.attributes } };
      published.push(c);
      captured.push(c);
    });
    subscriptions.push(sub);
  }
  const close = async () => {
    await Promise.all(subscriptions.map((s) => s.close()));
    await firestore.terminate();
    await pubsub.close();
    await instance.bigtable.close();
  };
  return { fn, project, pubsub, firestore, bigtable: { instance, tables }, published, close };
}

/** Rows in the function's Bigtable tables. */
async function bigtableRows(s: Staged): Promise<number> {
  let rows = 0;
  for (const t of s.bigtable.tables) rows += (await s.bigtable.instance.table(t).getRows())[0].length;
  return rows;
}

async function pushAndRoute(s: Staged, topo: TopologyOutputs, prefix: string, captured: Captured[], placeholders: boolean): Promise<Rehearsed> {
  const { fn, project, firestore, published } = s;
  const started = s.started!;
  const pushes: Array<{ subscription: string; status: number }> = [];
  const pushedAt = { from: Date.now(), to: 0 };
  for (const [name, sub] of Object.entries(topo.push_subscriptions).filter(([, x]) => x.function === fn.name)) {
    const upstream = captured.filter((c) => c.topic === sub.topic && filterMatches(sub.filter, c.attributes)).slice(0, 1);
    const candidates = [...upstream, ...seeds(sub.topic), ...(upstream.length ? [] : fallback(sub.topic, sub.filter))].filter((c) => filterMatches(sub.filter, c.attributes));
    if (candidates.length === 0) throw new RehearsalError(`push ${name}`, `nothing to push: no function published to ${sub.topic} a message its filter (${sub.filter}) passes`);
    for (const [k, c] of candidates.entries()) {
      // GCP's wrapped push body; deliveryAttempt is set when the subscription has a dead-letter policy.
      const body = { ...pushBody(c.data, c.attributes, `${Date.now()}${k}`, `projects/${project}/subscriptions/${prefix}${name}`), deliveryAttempt: 1 };
      body.message.publishTime = new Date().toISOString();
      const res = await fetch(`${started.url}/projects/${project}/topics/${prefix}${sub.topic}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: pushTokens(issuer)(fn.name, started.url) }, body: JSON.stringify(body) });
      const text = await res.text();
      pushes.push({ subscription: name, status: res.status });
      if ((res.status < 200 || res.status > 299) && !placeholders) throw new RehearsalError(`push ${name}`, `${fn.name} answered ${res.status}: ${text.slice(0, 300)}`, started.output());
    }
  }
  pushedAt.to = Date.now();
  const deadline = Date.now() + 60_000;
  if (pushes.some((p) => p.status >= 300)) {
    // A delivery it failed: the failure record triage will show (shared/boundary.ts).
    for (;;) {
      const records = await firestore.collection('dlq-failures').get();
      if (records.size > 0) return { function: fn.name, pushes, published: [...published], documents: records.size, pushedAt, effectExpected: true, failures: records.docs.map((d) => JSON.stringify(d.data())), bigtableRows: await bigtableRows(s) };
      if (Date.now() > deadline) throw new RehearsalError(`route ${fn.name}`, 'failed a delivery and recorded no failure in 60 s', started.output());
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  // Routed: a message on one of its topics, or its state kept. A function fed by ticks alone
  // may have nothing due at this minute: then its 2xx is the whole answer.
  const ticksOnly = pushes.every((p) => topo.subscriptions[p.subscription]?.topic === 'ticks');
  const effectExpected = !ticksOnly || tickIsDue(fn.name, pushedAt);
  let documents = 0;
  let rows = 0;
  for (;;) {
    documents = 0;
    for (const c of await firestore.listCollections()) documents += (await c.limit(1).get()).size;
    rows = await bigtableRows(s);
    if (published.length > 0 || documents > 0 || rows > 0 || !effectExpected) break;
    if (Date.now() > deadline) throw new RehearsalError(`route ${fn.name}`, 'answered 2xx but published nothing and kept nothing in 60 s', started.output());
    await new Promise((r) => setTimeout(r, 250));
  }
  return { function: fn.name, pushes, published: [...published], documents, pushedAt, effectExpected, failures: [], bigtableRows: rows };
}

describe('the deploy rehearsal', () => {
  it('builds the archive as the buildpack does, and every function of the manifest starts from it with the Terraform environment, answers a GCP push 2xx and routes it', async () => {
    const fns = deployedFunctions(infra, topology);
    expect(fns.map((f) => f.name).sort()).toEqual(manifest().functions.map((f) => f.name).sort());
    const t0 = Date.now();
    const results = await rehearse(built, fns, topology);
    process.stdout.write(`deploy rehearsal: build ${(buildMs / 1000).toFixed(1)} s, ${fns.length} functions served and pushed in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    for (const r of results) {
      expect(r.pushes.length).toBeGreaterThan(0);
      if (r.effectExpected) expect(r.published.length + r.documents + r.bigtableRows).toBeGreaterThan(0);
    }
    // What routed means here, for the first stage: the deduplicator's valid event reached events-unique, its broken line events-invalid.
    const deduplicator = results.find((r) => r.function === 'deduplicator')!;
    expect([...new Set(deduplicator.published.map((p) => p.topic))].sort()).toEqual(['events-invalid', 'events-unique', 'findings']);
    // volume-monitor asks BigQuery only on the first tick after an hour closed (its core's
    // planWindow): when both ends of its push fell in that minute, the flagged hour the local
    // BigQuery answered is a finding; when neither did, it asked nothing.
    const monitor = results.find((r) => r.function === 'volume-monitor');
    if (monitor) {
      const due = [monitor.pushedAt.from, monitor.pushedAt.to].map((t) => planWindow(t, DEFAULT_MONITOR_CONFIG) !== undefined);
      const kinds = monitor.published.map((p) => (JSON.parse(p.data.toString()) as { kind: string }).kind);
      if (due.every(Boolean)) expect(kinds).toContain('volume_anomaly');
      if (!due.some(Boolean)) expect(bigquery.requests).toEqual([]);
    }
    process.stdout.write(`deploy rehearsal: volume-monitor's tick was ${monitor?.effectExpected ? 'due: it asked the local BigQuery and published the flagged hour' : 'not due: acked with nothing to ask'}\n`);
    // The state store: the functions that list Bigtable tables were told the store a default deploy
    // keeps and the instance Terraform creates, and found their tables there. The deduplicator keeps
    // an accepted event's keys for its whole window: once its code keeps them in Bigtable (its config
    // reads STATE_STORE), the event it accepted is rows in dedup-keys, not documents.
    const listing = results.filter((r) => topology.functions[r.function]!.bigtable.length > 0);
    expect(listing.map((r) => r.function).sort()).toEqual(['call-duration-checker', 'crm-checker', 'deduplicator', 'gap-detector', 'revenue-checker']);
    for (const r of listing) expect(fns.find((f) => f.name === r.function)!.environment).toEqual(expect.arrayContaining(['STATE_STORE', 'BIGTABLE_INSTANCE']));
    const dedup = results.find((r) => r.function === 'deduplicator')!;
    if ('STATE_STORE' in deduplicatorEnv.shape) expect(dedup.bigtableRows).toBeGreaterThan(0);
    // A checker records its decision about the event it was pushed in the outcome ledger's table.
    for (const checker of ['revenue-checker', 'call-duration-checker', 'crm-checker']) {
      const r = results.find((x) => x.function === checker)!;
      if (r.effectExpected && r.pushes.every((p) => p.status < 300)) expect([checker, r.bigtableRows > 0]).toEqual([checker, true]);
    }
    process.stdout.write(`deploy rehearsal: state store ${variableDefault('state_store')}: ${listing.map((r) => `${r.function} ${r.bigtableRows} Bigtable rows`).join(', ')}\n`);
  });

  it("starts every function at the first apply, when each secret holds only Terraform's placeholder: a delivery that needs a key fails with a recorded ConfigError naming it", async () => {
    // The functions that mount a secret (the others start as in the test above).
    const fns = deployedFunctions(infra, topology).filter((f) => f.secrets.length > 0);
    expect(fns.map((f) => f.name)).toContain('revenue-checker');
    const results = await rehearse(built, fns, topology, true);
    expect(results.map((r) => r.function).sort()).toEqual(fns.map((f) => f.name).sort());
    for (const r of results) {
      const failed = r.pushes.filter((p) => p.status >= 300);
      // Either it needs no key for this delivery and routed it, or it failed it for a missing key.
      if (failed.length === 0 && r.effectExpected) expect(r.published.length + r.documents + r.bigtableRows).toBeGreaterThan(0);
      else {
        expect(failed.every((p) => p.status === 500)).toBe(true);
        const env = fns.find((f) => f.name === r.function)!.secrets;
        expect(r.failures.join('\n')).toMatch(new RegExp(`ConfigError[\\s\\S]*(${env.join('|')})[\\s\\S]*only Terraform's placeholder`));
      }
    }
    // OpenExchangeRates is the one key revenue-checker cannot run without.
    expect(results.find((r) => r.function === 'revenue-checker')!.failures.join('\n')).toMatch(/OXR_APP_ID/);
  });

  it('fails when a product file imports tools/ (the archive leaves it out, so the build cannot compile it)', async () => {
    // A copy of the repository's archived files with tools/ beside them, and the mutation.
    const repo = mkdtempSync(join(tmpdir(), 'deploy-mutant-repo-'));
    const spec = archiveSpec(infra);
    for (const f of archiveFiles(spec)) cpSync(join(spec.sourceDir, f), join(repo, f));
    cpSync(join(ROOT, 'tools'), join(repo, 'tools'), { recursive: true });
    cpSync(INFRA, join(repo, 'infra'), { recursive: true, filter: (src) => !/[/\\]\.(terraform|build)([/\\]|$)/.test(src) });
    const entry = join(repo, 'functions', 'index.ts');
    // A bare side-effect import, the form tsc left unresolved until tsconfig.json set
    // noUncheckedSideEffectImports (it would have failed only when an instance started).
    writeFileSync(entry, `import '../tools/infra/evaluate';\n${readFileSync(entry, 'utf8')}`);
    const mutantSpec = archiveSpec(await loadInfra(join(repo, 'infra')));
    const out = mkdtempSync(join(tmpdir(), 'deploy-mutant-'));
    unpackArchive(mutantSpec, archiveFiles(mutantSpec), out);
    // The dependencies npm ci installs, devDependencies included (the repository's own, from the
    // same lockfile; installing them again would prove nothing more): the build step is what fails.
    symlinkSync(join(ROOT, 'node_modules'), join(out, 'node_modules'), 'dir');
    // npm ci's `prepare` is the build (gcp-build then checks that it left dist/functions behind).
    const build = await run('npm', ['run', 'prepare'], { cwd: out, env: process.env });
    expect(build.code).not.toBe(0);
    expect(build.output).toMatch(/TS2307: Cannot find module '\.\.\/tools\/infra\/evaluate'/);
  });

  it('fails when a function needs a secret variable that Terraform does not set', async () => {
    const m = manifest();
    const checker = m.functions.find((f) => f.name === 'revenue-checker')!;
    checker.secrets = (checker.secrets ?? []).filter((s) => s !== 'openexchangerates-app-id');
    const mutated = evaluateTopology(m);
    const fn = deployedFunctions(infra, mutated).find((f) => f.name === 'revenue-checker')!;
    expect(fn.secrets).not.toContain('OXR_APP_ID');
    await expect(rehearse(built, [fn], mutated)).rejects.toThrow(/OXR_APP_ID/);
  });

  it('fails when an entry point is not registered by the built source', async () => {
    const m = manifest();
    m.functions.push({ name: 'ghost-checker', secrets: [] } as never);
    Object.assign(m.functions[m.functions.length - 1]!, { publishes: ['findings'] });
    m.subscriptions.push({ name: 'ghost-checker-events', topic: 'events-unique', push: { function: 'ghost-checker' }, deadLetterTopic: 'dead-letters' });
    const mutated = evaluateTopology(m);
    const fn = deployedFunctions(infra, mutated).find((f) => f.name === 'ghost-checker')!;
    expect(fn.entryPoint).toBe('ghost-checker');
    await expect(rehearse(built, [fn], mutated)).rejects.toThrow(/start ghost-checker: the instance ended .*\n[\s\S]*ghost-checker/);
  });
});
