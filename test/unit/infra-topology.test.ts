/**
 * infra/modules/topology is where the manifest becomes what Terraform creates. It is pure
 * Terraform (no provider), so real Terraform evaluates it here, offline, on the manifest and on
 * grown copies of it: what it computes must equal what the code reads from the same manifest.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { StateStoreEnv } from '../../shared/config';
import { TARGET_SUBSCRIPTION } from '../../shared/dead-letters';
import { parseTopology, resolveSubscriptions, type Topology } from '../../shared/topology';
import { loadInfra } from '../../tools/infra/check';
import { countResources, DEFAULT_VARS } from '../../tools/infra/resource-count';
import { evaluateTopology, INFRA, MANIFEST, type TopologyOutputs } from '../support/infra';

const manifest = (): Topology & Record<string, unknown> => JSON.parse(readFileSync(MANIFEST, 'utf8')) as Topology & Record<string, unknown>;

/** What Terraform's subscriptions must be: shared/topology.ts's resolution of the same manifest. */
function expectedSubscriptions(t: Topology, prefix = '') {
  return Object.fromEntries(
    resolveSubscriptions(t).map((s) => [
      s.name,
      {
        name: `${prefix}${s.name}`,
        topic: s.topic,
        delivery: s.delivery,
        function: s.function ?? null,
        bigquery_table: s.bigqueryTable ?? null,
        filter: s.filter ?? null,
        dead_letter_topic: s.deadLetterTopic ?? null,
        max_delivery_attempts: s.maxDeliveryAttempts,
        ack_deadline_seconds: s.ackDeadlineSeconds,
        minimum_backoff: `${s.retryPolicy.minimumBackoffSeconds}s`,
        maximum_backoff: `${s.retryPolicy.maximumBackoffSeconds}s`,
        message_retention: `${s.messageRetentionSeconds}s`,
      },
    ]),
  );
}

describe('infra/modules/topology on shared/topology.json', () => {
  const t = parseTopology(manifest());
  let out: TopologyOutputs;
  beforeAll(() => {
    out = evaluateTopology(manifest());
  });

  it('has every topic', () => {
    expect(Object.keys(out.topics).sort()).toEqual(t.topics.map((x) => x.name).sort());
    for (const x of t.topics) expect(out.topics[x.name]).toEqual({ name: x.name, description: x.description });
  });

  it('has every subscription with the settings the code resolves from the manifest', () => {
    expect(out.subscriptions).toEqual(expectedSubscriptions(t));
    const kinds = (d: string) => t.subscriptions.filter((s) => (d === 'push' ? s.push : d === 'pull' ? s.pull : s.bigquery)).map((s) => s.name).sort();
    expect(Object.keys(out.push_subscriptions).sort()).toEqual(kinds('push'));
    expect(Object.keys(out.pull_subscriptions).sort()).toEqual(kinds('pull'));
    expect(Object.keys(out.bigquery_subscriptions).sort()).toEqual(kinds('bigquery'));
  });

  it('keeps triage replays out of the BigQuery archives, except one aimed at the archive itself', () => {
    // A replay is an old event again (DESIGN §5): only the subscription that failed it may see it.
    const archives = t.subscriptions.filter((s) => s.bigquery);
    expect(archives.length).toBeGreaterThan(0);
    for (const s of archives) {
      const filter = `NOT attributes:${TARGET_SUBSCRIPTION} OR attributes.${TARGET_SUBSCRIPTION} = "${s.name}"`;
      expect(s.filter).toBe(filter);
      expect(out.bigquery_subscriptions[s.name]).toMatchObject({ filter });
    }
  });

  it('dead-letters every push and BigQuery subscription', () => {
    const needing = { ...out.push_subscriptions, ...out.bigquery_subscriptions };
    expect(Object.keys(needing).length).toBeGreaterThan(0);
    for (const s of Object.values(needing)) expect(t.topics.map((x) => x.name)).toContain(s.dead_letter_topic);
    expect(out.dead_letter_topics.sort()).toEqual([...new Set(t.subscriptions.flatMap((s) => (s.deadLetterTopic ? [s.deadLetterTopic] : [])))].sort());
  });

  it('deploys every function under its manifest name, publishing exactly to its manifest topics', () => {
    expect(Object.keys(out.functions).sort()).toEqual(t.functions.map((f) => f.name).sort());
    for (const f of t.functions) {
      const fn = out.functions[f.name]!;
      expect(fn.entry_point).toBe(f.name);
      expect(fn.name).toBe(f.name);
      expect([...fn.publishes].sort()).toEqual([...f.publishes].sort());
      // Mounted: its manifest secrets, less those whose mountWhen the (default, empty) settings do not meet.
      const mounted = (f.secrets ?? []).map((s) => t.secrets.find((x) => x.name === s)!).filter((s) => Object.keys(s.mountWhen ?? {}).length === 0);
      expect(fn.secrets).toEqual(Object.fromEntries(mounted.map((s) => [s.env, s.name])));
      expect(fn.firestore).toBe((f.firestore ?? []).length > 0);
      expect(fn.operator_api).toBe(f.operatorApi ?? false);
      // Pub/Sub waits for a push's answer as long as the subscription's ack deadline, and counts an
      // answer that comes later as a failed attempt: the function's timeout is that deadline, the
      // same on each of its push subscriptions, so no handler runs on after Pub/Sub gave up on it.
      for (const s of resolveSubscriptions(t).filter((x) => x.function === f.name)) expect(fn.timeout_seconds).toBe(s.ackDeadlineSeconds);
    }
  });

  it("mounts dlq-api-token only when dlq-triage's settings choose token authentication", () => {
    expect(t.secrets.find((s) => s.name === 'dlq-api-token')?.mountWhen).toEqual({ DLQ_API_AUTH: 'token' });
    expect(out.functions['dlq-triage']!.secrets).toEqual({});
    const token = evaluateTopology(manifest(), '', undefined, { 'dlq-triage': { DLQ_API_AUTH: 'token' } });
    expect(token.functions['dlq-triage']!.secrets).toEqual({ DLQ_API_TOKEN: 'dlq-api-token' });
    const iam = evaluateTopology(manifest(), '', undefined, { 'dlq-triage': { DLQ_API_AUTH: 'iam' } });
    expect(iam.functions['dlq-triage']!.secrets).toEqual({});
  });

  it('gives every function a distinct, valid service account id', () => {
    const ids = Object.values(out.functions).map((f) => f.account_id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/);
  });

  it('has every secret, the Firestore TTL policies and the composite indexes of the manifest', () => {
    expect(out.secrets).toEqual(Object.fromEntries(t.secrets.map((s) => [s.name, { secret_id: s.name, env: s.env, description: s.description }])));
    const collections = t.functions.flatMap((f) => f.firestore ?? []);
    expect(out.firestore_ttl).toStrictEqual(Object.fromEntries(collections.flatMap((c) => (c.ttlField ? [[c.collection, c.ttlField]] : []))));
    const byName = (a: { collection: string; fields: string[] }, b: { collection: string; fields: string[] }) => `${a.collection}:${a.fields}`.localeCompare(`${b.collection}:${b.fields}`);
    expect(Object.values(out.firestore_indexes).sort(byName)).toEqual(collections.flatMap((c) => (c.indexes ?? []).map((fields) => ({ collection: c.collection, fields }))).sort(byName));
    expect(out.bigquery_tables.sort()).toEqual(t.subscriptions.flatMap((s) => (s.bigquery ? [s.bigquery.table] : [])).sort());
  });
});

/** Seconds of a setting's value in the unit its name ends with (shared/topology.ts BigtableMaxAge). */
const settingSeconds = (name: string, value: number) => value * (name.endsWith('_DAYS') ? 86400 : name.endsWith('_HOURS') ? 3600 : name.endsWith('_MINUTES') ? 60 : 1);

describe('the Bigtable state store on shared/topology.json', () => {
  const t = parseTopology(manifest());
  const listed = t.functions.flatMap((f) => (f.bigtable ?? []).map((table) => ({ fn: f.name, ...table })));
  let out: TopologyOutputs;
  beforeAll(() => {
    out = evaluateTopology(manifest());
  });

  it('lists the tables the deduplicator, gap-detector and the checkers keep, with their families', () => {
    expect(listed.map((x) => `${x.fn}:${x.table}`).sort()).toEqual([
      'call-duration-checker:checker-outcomes',
      'crm-checker:checker-outcomes',
      'deduplicator:dedup-keys',
      'gap-detector:gap-chains',
      'gap-detector:gap-markers',
      'revenue-checker:checker-outcomes',
    ]);
    expect(out.bigtable_tables).toEqual(Object.fromEntries(listed.map((x) => [x.table, [...x.families].sort()])));
    for (const f of t.functions) expect(out.functions[f.name]!.bigtable).toEqual((f.bigtable ?? []).map((x) => x.table));
  });

  it('gives every listed column family one garbage-collection policy: the sum of the settings it names, at their defaults, plus the margin', () => {
    const expected = Object.fromEntries(
      listed.flatMap((x) =>
        x.families.map((family) => {
          const seconds = x.maxAge.marginHours * 3600 + Object.entries(x.maxAge.settings).reduce((n, [name, value]) => n + settingSeconds(name, value), 0);
          return [`${x.table}/${family}`, { table: x.table, family, max_age: `${Math.ceil(seconds)}s` }];
        }),
      ),
    );
    expect(out.bigtable_gc).toEqual(expected);
    // The deduplicator's keys: the 7-day window, the 25 s claim lease, an hour's margin.
    expect(out.bigtable_gc['dedup-keys/k']!.max_age).toBe(`${7 * 24 * 3600 + 25 + 3600}s`);
    // The checkers' ledger: LEDGER_RETENTION_DAYS (30 days) and an hour.
    expect(out.bigtable_gc['checker-outcomes/o']!.max_age).toBe(`${30 * 86_400 + 3600}s`);
  });

  it("follows the functions' environment settings (function_settings) where they set a named setting", () => {
    const settings = { deduplicator: { DEDUP_WINDOW_HOURS: '24', DEDUP_LEASE_SECONDS: '60' }, 'gap-detector': { GAP_STATE_RETENTION_HOURS: '48' } };
    const set = evaluateTopology(manifest(), '', undefined, settings);
    expect(set.bigtable_gc['dedup-keys/k']!.max_age).toBe(`${24 * 3600 + 60 + 3600}s`);
    expect(set.bigtable_gc['gap-markers/m']!.max_age).toBe(`${48 * 3600 + 3600}s`);
    expect(set.bigtable_gc['gap-chains/c']!.max_age).toBe(`${48 * 3600 + 3600}s`);
  });

  it('names one instance per resource prefix, one that the functions accept as BIGTABLE_INSTANCE', () => {
    const instance = z.object(StateStoreEnv).shape.BIGTABLE_INSTANCE;
    expect(out.bigtable_instance_id).toBe('event-recovery');
    const prefixed = evaluateTopology(manifest(), 'staging-').bigtable_instance_id; // the longest prefix variables.tf allows
    expect(prefixed).toBe('staging-event-recovery');
    for (const id of [out.bigtable_instance_id, prefixed]) expect(instance.safeParse(id).success).toBe(true);
  });

  it('leaves a table without maxAge without a garbage-collection policy, which is why the manifest refuses one', () => {
    const m = manifest() as unknown as { functions: Array<{ name: string; bigtable?: Array<Record<string, unknown>> }> };
    const dedup = m.functions.find((f) => f.name === 'deduplicator')!;
    dedup.bigtable = dedup.bigtable!.map(({ maxAge: _maxAge, ...rest }) => rest);
    expect(() => parseTopology(m)).toThrow(/maxAge/);
    const without = evaluateTopology(m);
    expect(Object.keys(without.bigtable_tables)).toContain('dedup-keys');
    expect(Object.keys(without.bigtable_gc).sort()).toEqual(['checker-outcomes/o', 'gap-chains/c', 'gap-markers/m']);
  });

  it('creates a table two functions list once, with both families and the longer max age', () => {
    const m = manifest() as unknown as { functions: Array<{ name: string; bigtable?: unknown[] }> };
    m.functions.find((f) => f.name === 'volume-monitor')!.bigtable = [{ table: 'dedup-keys', families: ['v'], maxAge: { settings: { DEDUP_WINDOW_HOURS: 240 }, marginHours: 0 } }];
    const shared = evaluateTopology(m);
    expect(shared.bigtable_tables['dedup-keys']).toEqual(['k', 'v']);
    expect(shared.bigtable_gc['dedup-keys/v']!.max_age).toBe(`${240 * 3600}s`);
    expect(shared.bigtable_gc['dedup-keys/k']!.max_age).toBe(`${7 * 24 * 3600 + 25 + 3600}s`);
  });
});

describe('a function whose push subscriptions have different ack deadlines', () => {
  it('is refused with the subscriptions named', () => {
    const m = manifest();
    const subs = m.subscriptions.map((s) => (s.name === 'gap-detector-chains' ? { ...s, ackDeadlineSeconds: 30 } : s));
    expect(() => parseTopology({ ...m, subscriptions: subs })).toThrow(/function gap-detector: its push subscriptions have different ack deadlines \(.*gap-detector-chains 30 s.*\)/);
  });
});

describe('a manifest that grows needs no new HCL', () => {
  it('picks up a new topic, function, push subscription, BigQuery archive, secret and collection', () => {
    const grown = manifest();
    grown.topics.push({ name: 'orders-late', description: 'test' });
    grown.secrets.push({ name: 'hubspot-token', env: 'HUBSPOT_TOKEN', description: 'test' });
    grown.functions.push({ name: 'late-order-checker', publishes: ['findings', 'orders-late'], secrets: ['hubspot-token'], firestore: [{ collection: 'late-orders', ttlField: 'expireAt', indexes: [['shop', 'dueMs']] }] });
    grown.subscriptions.push(
      { name: 'late-order-checker-unique', topic: 'events-unique', push: { function: 'late-order-checker' }, deadLetterTopic: 'dead-letters', ackDeadlineSeconds: 300, retryPolicy: { minimumBackoffSeconds: 30, maximumBackoffSeconds: 300 } },
      { name: 'archive-orders-late', topic: 'orders-late', bigquery: { table: 'orders_late' }, deadLetterTopic: 'dead-letters' },
    );
    const t = parseTopology(grown); // the grown manifest is one the code accepts
    const out = evaluateTopology(grown, 'staging-');

    expect(out.subscriptions).toEqual(expectedSubscriptions(t, 'staging-'));
    expect(out.push_subscriptions['late-order-checker-unique']).toMatchObject({ name: 'staging-late-order-checker-unique', function: 'late-order-checker', ack_deadline_seconds: 300, minimum_backoff: '30s' });
    expect(out.functions['late-order-checker']).toEqual({
      name: 'staging-late-order-checker',
      entry_point: 'late-order-checker',
      account_id: 'staging-fn-late-order-checker',
      publishes: ['findings', 'orders-late'],
      secrets: { HUBSPOT_TOKEN: 'hubspot-token' },
      firestore: true,
      bigtable: [],
      operator_api: false,
      timeout_seconds: 300,
    });
    expect(out.topics['orders-late']).toEqual({ name: 'staging-orders-late', description: 'test' });
    expect(out.bigquery_tables).toContain('orders_late');
    expect(out.secrets['hubspot-token']).toEqual({ secret_id: 'staging-hubspot-token', env: 'HUBSPOT_TOKEN', description: 'test' });
    expect(out.firestore_ttl['late-orders']).toBe('expireAt');
    expect(out.firestore_indexes['late-orders:shop,dueMs']).toEqual({ collection: 'late-orders', fields: ['shop', 'dueMs'] });
    // A long name keeps its service account id within 30 characters, and distinct.
    expect(out.functions['call-duration-checker']!.account_id).toMatch(/^staging-fn-call-durat-[0-9a-f]{8}$/);
  });
});

describe('the resource count', () => {
  it('sizes every resource of infra/ from the manifest', async () => {
    const t = parseTopology(manifest());
    const { byType, unsized } = countResources(await loadInfra(INFRA), evaluateTopology(manifest()));
    expect(unsized).toEqual([]);
    expect(byType.google_pubsub_topic).toBe(t.topics.length);
    expect(byType.google_pubsub_subscription).toBe(t.subscriptions.length);
    expect(byType.google_cloudfunctions2_function).toBe(t.functions.length);
    const unconditional = new Set(t.secrets.filter((s) => Object.keys(s.mountWhen ?? {}).length === 0).map((s) => s.name));
    expect(byType.google_secret_manager_secret_iam_member).toBe(t.functions.reduce((n, f) => n + (f.secrets ?? []).filter((s) => unconditional.has(s)).length, 0));
    // Publisher grants: each function's manifest topics, and the service agent on each dead-letter topic.
    const deadLetterTopics = new Set(t.subscriptions.flatMap((s) => (s.deadLetterTopic ? [s.deadLetterTopic] : [])));
    expect(byType.google_pubsub_topic_iam_member).toBe(t.functions.reduce((n, f) => n + f.publishes.length, 0) + deadLetterTopics.size);
  });

  it('counts the Bigtable state store with state_store bigtable (the default), and nothing of it with firestore', async () => {
    const t = parseTopology(manifest());
    const infra = await loadInfra(INFRA);
    const out = evaluateTopology(manifest());
    const bigtable = countResources(infra, out).byType;
    const tables = new Set(t.functions.flatMap((f) => (f.bigtable ?? []).map((x) => x.table)));
    expect(bigtable.google_bigtable_instance).toBe(1);
    expect(bigtable.google_bigtable_table).toBe(tables.size);
    expect(bigtable.google_bigtable_gc_policy).toBe(new Set(t.functions.flatMap((f) => (f.bigtable ?? []).flatMap((x) => x.families.map((c) => `${x.table}/${c}`)))).size);
    expect(bigtable.google_bigtable_instance_iam_member).toBe(t.functions.filter((f) => (f.bigtable ?? []).length > 0).length);
    const firestore = countResources(infra, out, { ...DEFAULT_VARS, state_store: 'firestore' }).byType;
    for (const type of ['google_bigtable_instance', 'google_bigtable_table', 'google_bigtable_gc_policy', 'google_bigtable_instance_iam_member']) expect(firestore[type]).toBe(0);
    // bigtableadmin.googleapis.com and bigtable.googleapis.com, enabled with the Bigtable store only.
    expect(bigtable.google_project_service! - firestore.google_project_service!).toBe(2);
  });
});
