/**
 * infra/modules/topology is where the manifest becomes what Terraform creates. It is pure
 * Terraform (no provider), so real Terraform evaluates it here, offline, on the manifest and on
 * grown copies of it: what it computes must equal what the code reads from the same manifest.
 */
import { readFileSync } from 'node:fs';
import { TARGET_SUBSCRIPTION } from '../../shared/dead-letters';
import { parseTopology, resolveSubscriptions, type Topology } from '../../shared/topology';
import { loadInfra } from '../../tools/infra/check';
import { countResources } from '../../tools/infra/resource-count';
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
});
