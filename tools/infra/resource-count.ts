#!/usr/bin/env node
/**
 * How many of each resource type `terraform apply` creates for the current manifest, without
 * the provider: the parsed HCL names the resources, real Terraform evaluates the manifest
 * (modules/topology), and the table below says how each resource's for_each or count follows
 * from it. A resource missing from the table is reported, not guessed.
 *
 *   npm run infra:resources
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadInfra, type Infra } from './check';
import { evaluateTopology, repoRoot, type TopologyOutputs } from './evaluate';

/** The root variables the counts depend on, at their defaults. */
export interface CountVars {
  readonly enable_apis: boolean;
  readonly create_firestore_database: boolean;
  readonly operator_members: readonly string[];
  readonly volume_train_on_apply: boolean;
  readonly state_store: 'bigtable' | 'firestore';
}
export const DEFAULT_VARS: CountVars = { enable_apis: true, create_firestore_database: true, operator_members: [], volume_train_on_apply: false, state_store: 'bigtable' };

type Fn = TopologyOutputs['functions'][string];
type Sizer = (t: TopologyOutputs, v: CountVars, infra: Infra) => number;
const one: Sizer = () => 1;
const perFunction =
  (f: (fn: Fn, v: CountVars) => number): Sizer =>
  (t, v) =>
    Object.values(t.functions).reduce((n, fn) => n + f(fn, v), 0);
const size = (o: object) => Object.keys(o).length;

/** `module|type.name` → how many instances the manifest and the variables make. */
export const SIZES: Readonly<Record<string, Sizer>> = {
  '|data.google_project.this': one,
  '|data.archive_file.source': one,
  '|google_project_service.api': (_t, v, infra) => {
    if (!v.enable_apis) return 0;
    const locals = [...infra.files.values()].flatMap((f) => (Array.isArray(f.locals) ? f.locals : [])) as Array<Record<string, unknown>>;
    const apis = String(locals.find((l) => l.apis !== undefined)?.apis ?? '');
    // The Bigtable APIs are enabled only with the Bigtable state store (local.bigtable).
    const bigtableApis = (apis.match(/"bigtable[a-z]*\.googleapis\.com"/g) ?? []).length;
    return (apis.match(/\.googleapis\.com/g) ?? []).length - (v.state_store === 'bigtable' ? 0 : bigtableApis);
  },
  '|google_storage_bucket.source': one,
  '|google_storage_bucket_object.source': one,
  '|google_service_account.build': one,
  '|google_project_iam_member.build': (_t, _v, infra) => {
    const r = infra.resources.find((x) => x.module === '' && x.name === 'build' && x.type === 'google_project_iam_member');
    return (String(r?.body.for_each ?? '').match(/"roles\//g) ?? []).length;
  },
  '|google_storage_bucket_iam_member.build_reads_source': one,
  '|google_cloud_scheduler_job.ticks': one,
  // volume-monitor's BigQuery grants (one function of the manifest, by name).
  '|google_project_iam_member.volume_monitor_jobs': one,
  '|google_bigquery_dataset_iam_member.volume_monitor_reads': one,
  '|google_bigquery_table_iam_member.volume_monitor_flags': one,
  '|google_service_account.retrain': one,
  '|google_project_service_identity.agent': (_t, _v, infra) => {
    const r = infra.resources.find((x) => x.module === '' && x.name === 'agent' && x.type === 'google_project_service_identity');
    return (String(r?.body.for_each ?? '').match(/\.googleapis\.com"/g) ?? []).length;
  },
  '|time_sleep.grants_propagate': one,
  '|google_project_iam_member.retrain_jobs': one,
  '|google_bigquery_dataset_iam_member.retrain_data': one,
  '|google_service_account_iam_member.retrain_token_creator': one,
  'modules/volume-anomalies|google_bigquery_table.hourly_series': one,
  'modules/volume-anomalies|google_bigquery_table.anomalies': one,
  'modules/volume-anomalies|google_bigquery_job.create_model': (_t, v) => (v.volume_train_on_apply ? 1 : 0),
  'modules/volume-anomalies|terraform_data.model_sql': (_t, v) => (v.volume_train_on_apply ? 1 : 0),
  'modules/volume-anomalies|google_bigquery_data_transfer_config.retrain': one,
  'modules/secrets|google_secret_manager_secret.secret': (t) => size(t.secrets),
  'modules/secrets|google_secret_manager_secret_version.placeholder': (t) => size(t.secrets),
  'modules/bigquery|google_bigquery_dataset.archive': one,
  'modules/bigquery|google_bigquery_table.archive': (t) => t.bigquery_tables.length,
  'modules/bigquery|google_bigquery_table.once': (t) => t.bigquery_tables.length, // a view per archive table (shared/archive/sql/once.sql)
  'modules/bigquery|google_bigquery_table_iam_member.writer': (t) => t.bigquery_tables.length, // one writer: the Pub/Sub service agent
  'modules/firestore|google_firestore_database.db': (_t, v) => (v.create_firestore_database ? 1 : 0),
  'modules/firestore|google_firestore_field.ttl': (t) => size(t.firestore_ttl),
  'modules/firestore|google_firestore_index.composite': (t) => size(t.firestore_indexes),
  'modules/pubsub|google_pubsub_topic.topic': (t) => size(t.topics),
  'modules/pubsub|google_pubsub_subscription.sub': (t) => size(t.subscriptions),
  'modules/pubsub|google_service_account.push': one,
  'modules/pubsub|google_cloud_run_service_iam_member.push_invoker': (t) => new Set(Object.values(t.push_subscriptions).map((s) => s.function)).size,
  'modules/pubsub|google_service_account_iam_member.agent_token_creator': one,
  'modules/pubsub|google_pubsub_topic_iam_member.agent_dead_letter_publisher': (t) => t.dead_letter_topics.length,
  'modules/pubsub|google_pubsub_subscription_iam_member.agent_source_subscriber': (t) => Object.values(t.subscriptions).filter((s) => s.dead_letter_topic !== null).length,
  'modules/function|google_service_account.fn': perFunction(() => 1),
  'modules/function|google_cloudfunctions2_function.fn': perFunction(() => 1),
  'modules/function|google_pubsub_topic_iam_member.publishes': perFunction((fn) => fn.publishes.length),
  'modules/function|google_secret_manager_secret_iam_member.reads': perFunction((fn) => size(fn.secrets)),
  'modules/function|google_project_iam_member.firestore': perFunction((fn) => (fn.firestore ? 1 : 0)),
  'modules/bigtable|google_bigtable_instance.state': (_t, v) => (v.state_store === 'bigtable' ? 1 : 0),
  'modules/bigtable|google_bigtable_table.table': (t, v) => (v.state_store === 'bigtable' ? size(t.bigtable_tables) : 0),
  'modules/bigtable|google_bigtable_gc_policy.max_age': (t, v) => (v.state_store === 'bigtable' ? size(t.bigtable_gc) : 0),
  'modules/function|google_bigtable_instance_iam_member.state': perFunction((fn, v) => (v.state_store === 'bigtable' && fn.bigtable.length > 0 ? 1 : 0)),
  'modules/function|google_cloud_run_service_iam_member.operators': perFunction((fn, v) => (fn.operator_api ? v.operator_members.length : 0)),
};

export const keyOf = (r: Infra['resources'][number]) => `${r.module}|${r.kind === 'data' ? 'data.' : ''}${r.type}.${r.name}`;

export function countResources(infra: Infra, t: TopologyOutputs, vars: CountVars = DEFAULT_VARS): { byType: Record<string, number>; unsized: string[] } {
  const byType: Record<string, number> = {};
  const unsized: string[] = [];
  for (const r of infra.resources) {
    const sizer = SIZES[keyOf(r)];
    if (!sizer) {
      unsized.push(keyOf(r));
      continue;
    }
    const type = r.kind === 'data' ? `data.${r.type}` : r.type;
    byType[type] = (byType[type] ?? 0) + sizer(t, vars, infra);
  }
  return { byType, unsized };
}

if (require.main === module) {
  const root = repoRoot();
  void loadInfra(join(root, 'infra')).then((infra) => {
    const t = evaluateTopology(JSON.parse(readFileSync(join(root, 'shared', 'topology.json'), 'utf8')));
    const { byType, unsized } = countResources(infra, t);
    const rows = Object.entries(byType).sort(([a], [b]) => a.localeCompare(b));
    const managed = rows.filter(([type]) => !type.startsWith('data.'));
    for (const [type, n] of rows) process.stdout.write(`${String(n).padStart(4)}  ${type}\n`);
    process.stdout.write(`${String(managed.reduce((n, [, c]) => n + c, 0)).padStart(4)}  resources in all (defaults: enable_apis, create_firestore_database, no operator_members, state_store bigtable)\n`);
    if (unsized.length > 0) process.stdout.write(`not counted (add them to tools/infra/resource-count.ts): ${unsized.join(', ')}\n`);
  });
}
