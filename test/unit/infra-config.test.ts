/**
 * The manifest's deployment facts against the code that depends on them: the secrets each
 * function mounts are exactly the secrets its config schema reads, and the Firestore collections
 * that get TTL policies and composite indexes are exactly those its stores write and query
 * (recorded from the stores themselves, run against a recording Firestore).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Firestore } from '@google-cloud/firestore';
import type { z } from 'zod';
import { FirestoreFailureStore } from '../../shared/adapters/firestore-failures';
import { FirestoreOutcomeLedger } from '../../shared/adapters/firestore-ledger';
import { BoundaryEnv } from '../../shared/boundary-cloud';
import { FirestoreDedupStore } from '../../functions/deduplicator/firestore-state';
import { FirestoreGapStore } from '../../functions/gap-detector/firestore-store';
import { DEFAULT_GAP_STATE_CONFIG } from '../../functions/gap-detector/store';
import { FirestoreTriageStore } from '../../functions/dlq-triage/firestore-store';
import { TriageService } from '../../functions/dlq-triage/service';
import { MemoryFailureStore } from '../../shared/adapters/memory-failures';
import { MemoryPublisher } from '../../shared/adapters/memory-publisher';
import { silentLogger } from '../../shared/log';
import { topology } from '../../shared/topology';
import { Env as deduplicatorEnv } from '../../functions/deduplicator';
import { Env as gapDetectorEnv } from '../../functions/gap-detector';
import { Env as revenueCheckerEnv } from '../../functions/revenue-checker';
import { Env as callDurationCheckerEnv } from '../../functions/call-duration-checker';
import { Env as crmCheckerEnv } from '../../functions/crm-checker';
import { Env as volumeMonitorEnv } from '../../functions/volume-monitor';
import { Env as dlqTriageEnv } from '../../functions/dlq-triage';
import { StateStoreEnv } from '../../shared/config';
import { loadInfra } from '../../tools/infra/check';
import { deployedFunctions, type DeployedFunction } from '../../tools/infra/rehearsal';
import { evaluateTopology, INFRA, mutatedInfra, ROOT } from '../support/infra';

type EnvSchema = z.ZodObject<z.ZodRawShape>;
/** Each function's config schema (the `Env` its index.ts reads the environment with). */
const ENVS: Record<string, EnvSchema> = {
  deduplicator: deduplicatorEnv,
  'gap-detector': gapDetectorEnv,
  'revenue-checker': revenueCheckerEnv,
  'call-duration-checker': callDurationCheckerEnv,
  'crm-checker': crmCheckerEnv,
  'volume-monitor': volumeMonitorEnv,
  'dlq-triage': dlqTriageEnv,
};
const envOf = (name: string): EnvSchema => ENVS[name]!;

/** Functions of the manifest whose code exists (one may be on its way in another branch). */
const written = topology.functions.filter((f) => existsSync(join(ROOT, 'functions', f.name, 'index.ts')));

/** A name that reads like a credential: it must come from Secret Manager, so from the manifest. */
const CREDENTIAL = /(_KEY|_TOKEN|_SECRET|_PASSWORD|_APP_ID|_SID)$/;

/** The state store's settings (shared/config.ts StateStoreEnv), which Terraform gives exactly the functions whose manifest entry lists a Bigtable table. */
const STATE_STORE_NAMES = Object.keys(StateStoreEnv).sort();

describe('the environment Terraform gives each function', () => {
  let deployed: DeployedFunction[];
  beforeAll(async () => {
    deployed = deployedFunctions(await loadInfra(INFRA), evaluateTopology(topology));
  });

  it.each(written.map((f) => [f.name, f] as const))('is read by what %s reads (its config schema, its error boundary, the Google clients)', (name, spec) => {
    const given = deployed.find((d) => d.name === name)!.environment;
    const reads = new Set([...Object.keys(envOf(name).shape), ...Object.keys(BoundaryEnv.shape)]);
    const unread = given.filter((k) => !reads.has(k));
    expect(unread).toEqual([]);
    // A function that lists a Bigtable table is told the store and the instance; the others are not.
    expect(STATE_STORE_NAMES.filter((k) => given.includes(k))).toEqual((spec.bigtable ?? []).length > 0 ? STATE_STORE_NAMES : []);
  });

  it.each([
    ['given to no function', (t: string) => t.replace(', length(each.value.bigtable) > 0 ? local.state_store_environment : {})', ')')],
    ['given to every function', (t: string) => t.replace('length(each.value.bigtable) > 0 ? local.state_store_environment : {}', 'local.state_store_environment')],
  ])("would see the state store's environment %s", async (_what, edit) => {
    const mutant = deployedFunctions(await mutatedInfra('main.tf', edit), evaluateTopology(topology));
    const told = (name: string) => STATE_STORE_NAMES.every((k) => mutant.find((d) => d.name === name)!.environment.includes(k));
    const listing = topology.functions.filter((f) => (f.bigtable ?? []).length > 0).map((f) => f.name);
    expect(topology.functions.some((f) => told(f.name) !== listing.includes(f.name))).toBe(true);
  });

  it('would name a setting Terraform gives under a name no function reads', async () => {
    const mutant = await mutatedInfra('main.tf', (t) => t.replace('STATE_STORE       = var.state_store', 'STATE_STORE_KIND  = var.state_store'));
    const dedup = deployedFunctions(mutant, evaluateTopology(topology)).find((d) => d.name === 'deduplicator')!;
    const reads = new Set([...Object.keys(envOf('deduplicator').shape), ...Object.keys(BoundaryEnv.shape)]);
    const unread = dedup.environment.filter((k) => !reads.has(k));
    expect(unread).toEqual(['STATE_STORE_KIND']);
  });
});

describe("the Bigtable tables' garbage-collection ages in the manifest", () => {
  const tables = topology.functions.flatMap((f) => (f.bigtable ?? []).map((t) => [f.name, t] as const));

  it('are named for the deduplicator, gap-detector and the checkers', () => {
    expect(tables.map(([f, t]) => `${f}:${t.table}`).sort()).toEqual([
      'call-duration-checker:checker-outcomes',
      'crm-checker:checker-outcomes',
      'deduplicator:dedup-keys',
      'gap-detector:gap-chains',
      'gap-detector:gap-markers',
      'revenue-checker:checker-outcomes',
    ]);
  });

  it.each(tables.map(([f, t]) => [`${f}'s ${t.table}`, f, t] as const))('name settings %s reads, at its own defaults', (_what, name, table) => {
    const defaults = envOf(name).parse({ OXR_APP_ID: 'unused', VOLUME_DATASET: 'unused' }) as Record<string, unknown>;
    for (const [setting, value] of Object.entries(table.maxAge.settings)) expect([setting, defaults[setting]]).toEqual([setting, value]);
  });
});

describe('the secrets in the manifest', () => {
  it('knows the config schema of every function written so far', () => {
    expect(written.map((f) => f.name).sort()).toEqual(Object.keys(ENVS).sort());
  });

  it.each(written.map((f) => [f.name, f] as const))('are exactly what %s reads', (name, spec) => {
    const env = Object.keys(envOf(name).shape);
    const secretEnvs = new Set(topology.secrets.map((s) => s.env));
    const reads = env.filter((k) => secretEnvs.has(k) || CREDENTIAL.test(k)).sort();
    const mounts = (spec.secrets ?? []).map((s) => topology.secrets.find((x) => x.name === s)!.env).sort();
    expect(mounts).toEqual(reads);
    // Terraform sets RESOURCE_PREFIX on every function: its schema must read it.
    expect(env).toContain('RESOURCE_PREFIX');
  });

  it('lists only secrets some function reads', () => {
    const used = new Set(topology.functions.flatMap((f) => f.secrets ?? []));
    expect(topology.secrets.map((s) => s.name).filter((s) => !used.has(s))).toEqual([]);
  });
});

interface Recorded {
  collections: Set<string>;
  queries: Array<{ collection: string; filters: Array<{ field: string; op: string }>; orders: string[] }>;
}

/** A Firestore that records the collections asked for and the queries run, and holds nothing. */
function recordingFirestore(): { firestore: Firestore; recorded: Recorded } {
  const recorded: Recorded = { collections: new Set(), queries: [] };
  const snapshot = { exists: false, data: () => undefined, get: () => undefined, updateTime: undefined };
  const docRef = (path: string) => ({ path, id: path, get: async () => snapshot, create: async () => ({}), set: async () => ({}), update: async () => ({}), delete: async () => ({}) });
  const query = (collection: string, filters: Recorded['queries'][number]['filters'], orders: string[]): unknown => ({
    where: (field: string, op: string) => query(collection, [...filters, { field, op }], orders),
    orderBy: (field: string | { formattedName: string }) => query(collection, filters, [...orders, typeof field === 'string' ? field : field.formattedName]),
    limit: () => query(collection, filters, orders),
    count: () => ({
      get: async () => {
        recorded.queries.push({ collection, filters, orders });
        return { data: () => ({ count: 0 }) };
      },
    }),
    get: async () => {
      recorded.queries.push({ collection, filters, orders });
      return { docs: [], size: 0, empty: true };
    },
    doc: (id: string) => docRef(`${collection}/${id}`),
  });
  const firestore = {
    collection: (name: string) => {
      recorded.collections.add(name);
      return query(name, [], []);
    },
    batch: () => ({ create() {}, set() {}, update() {}, delete() {}, commit: async () => [] }),
    getAll: async () => [],
  };
  return { firestore: firestore as unknown as Firestore, recorded };
}

/**
 * The composite index a query needs: equality fields first, then the range and order fields, when
 * they differ. `in` is a set of equalities; every index ends with the document id (`__name__`),
 * so ordering by it alone needs nothing more than the single-field index.
 */
function compositeIndex(q: Recorded['queries'][number]): string[] | undefined {
  const isEq = (op: string) => op === '==' || op === 'in';
  const eq = q.filters.filter((f) => isEq(f.op)).map((f) => f.field);
  const orders = q.orders.at(-1) === '__name__' ? q.orders.slice(0, -1) : q.orders;
  const rest = [...new Set([...q.filters.filter((f) => !isEq(f.op)).map((f) => f.field), ...orders])];
  const fields = [...new Set([...eq, ...rest])];
  return fields.length > 1 ? fields : undefined;
}

/**
 * The failure store of the error boundary every Pub/Sub function is wrapped in (shared/boundary-cloud.ts
 * reads BoundaryEnv beside the function's own schema), from its defaults.
 */
const boundary = (fs: Firestore) => new FirestoreFailureStore(fs, BoundaryEnv.parse({}).FAILURE_COLLECTION);

/** Each stateful function's stores as its composition root builds them, from its config defaults. */
const STORES: Record<string, (firestore: Firestore, env: Record<string, unknown>) => Promise<void>> = {
  validator: async (fs) => {
    boundary(fs);
  },
  deduplicator: async (fs, env) => {
    boundary(fs);
    new FirestoreDedupStore(fs, env.DEDUP_COLLECTION as string);
  },
  'gap-detector': async (fs, env) => {
    boundary(fs);
    const store = new FirestoreGapStore(fs, env.GAP_COLLECTION_PREFIX as string);
    const ctx = { now: 0, config: DEFAULT_GAP_STATE_CONFIG };
    await store.foldSource('//test/source', 0, ctx, { force: true, minIntervalMs: 0 });
    await store.oldestPendingSource();
    await store.sourcesDue(0, 10);
    await store.sweepChains(0, ctx, 10);
    await store.readWatermark();
    await store.pendingOutbox(0, 10);
  },
  'revenue-checker': async (fs, env) => {
    boundary(fs);
    new FirestoreOutcomeLedger(fs, env.LEDGER_COLLECTION as string);
  },
  'call-duration-checker': async (fs, env) => {
    boundary(fs);
    new FirestoreOutcomeLedger(fs, env.LEDGER_COLLECTION as string);
  },
  'crm-checker': async (fs, env) => {
    boundary(fs);
    new FirestoreOutcomeLedger(fs, env.LEDGER_COLLECTION as string);
  },
  // Its push path runs in the same boundary, over its own FAILURE_COLLECTION setting, and reads it.
  'dlq-triage': async (fs, env) => {
    new FirestoreFailureStore(fs, env.FAILURE_COLLECTION as string);
    const store = new FirestoreTriageStore(fs, env.TRIAGE_COLLECTION_PREFIX as string);
    await store.get('record');
    await store.scan({ states: ['open'], limit: 10 });
    await store.scan({ limit: 10 });
    await store.auditLog({ limit: 10, recordId: 'record' });
    await store.auditLog({ limit: 10 });
    await store.getJob('job');
    // Stats as counts: unfiltered, and as a bulk replay's dry run counts (open, perhaps of some classes).
    const service = new TriageService({ store, failures: new MemoryFailureStore(), publisher: new MemoryPublisher(), clock: { now: () => 0 }, logger: silentLogger, topology, config: { prefix: '', retentionMs: 1, claimMs: 1, maxFutureMs: 1 } });
    await service.stats();
    await service.stats({ state: ['open'] });
    await service.stats({ class: ['invalid', 'poison'], state: ['open'] });
  },
  // volume-monitor keeps nothing in Firestore (its state is the volume_anomalies table in BigQuery)
  // and is a scheduled tick handler without the error boundary.
};

/** Collections kept without a TTL policy (their documents are the record operators audit). */
const KEPT = new Set(['dlq-triage-audit', 'dlq-triage-jobs']);

describe('the Firestore collections in the manifest', () => {
  it.each(written.map((f) => [f.name, f] as const))('are exactly those %s keeps, with the composite indexes it queries', async (name, spec) => {
    const { firestore, recorded } = recordingFirestore();
    const defaults = envOf(name).parse({ OXR_APP_ID: 'unused', VOLUME_DATASET: 'unused' }) as Record<string, unknown>;
    await STORES[name]?.(firestore, defaults);
    expect((spec.firestore ?? []).map((c) => c.collection).sort()).toEqual([...recorded.collections].sort());
    // Every store writes expireAt for its TTL policy (shared/adapters, functions/*/firestore-*.ts).
    // The triage audit and jobs are kept without one (functions/dlq-triage/firestore-store.ts).
    for (const c of spec.firestore ?? []) expect([c.collection, c.ttlField]).toEqual([c.collection, KEPT.has(c.collection) ? undefined : 'expireAt']);
    const needed = recorded.queries.flatMap((q) => {
      const fields = compositeIndex(q);
      return fields ? [`${q.collection}:${fields.join(',')}`] : [];
    });
    const declared = (spec.firestore ?? []).flatMap((c) => (c.indexes ?? []).map((fields) => `${c.collection}:${fields.join(',')}`));
    expect([...new Set(declared)].sort()).toEqual([...new Set(needed)].sort());
  });

  it('records the queries it checks (the gap-detector store queries its markers by source in arrival order)', async () => {
    const { firestore, recorded } = recordingFirestore();
    await STORES['gap-detector']!(firestore, { GAP_COLLECTION_PREFIX: 'gap-detector' });
    expect(recorded.queries).toContainEqual({ collection: 'gap-detector-markers', filters: [{ field: 'src', op: '==' }], orders: ['arrivedAt'] });
  });
});
