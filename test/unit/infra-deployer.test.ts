/**
 * The deployer's permissions, exactly (README, Deploy to GCP, "Who deploys"): every resource and
 * data source type infra/ uses is mapped here to the predefined roles that let a principal create
 * it, its IAM bindings included (Editor cannot set IAM policies on topics, subscriptions, buckets
 * or datasets: https://cloud.google.com/iam/docs/roles-overview#basic), and the README's list of
 * roles must be exactly the roles the HCL needs. A new resource type fails here until it is
 * mapped, and the README follows.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadInfra } from '../../tools/infra/check';
import { INFRA, ROOT } from '../support/infra';

/** Acting as a service account: deploying a function, a push subscription's OIDC identity, a scheduled query's identity. */
const ACT_AS = 'roles/iam.serviceAccountUser';

/** Type => the roles that create it (https://cloud.google.com/iam/docs/roles-permissions). */
const ROLES: Record<string, readonly string[]> = {
  'data.google_project': ['roles/browser'],
  'data.archive_file': [],
  'resource.time_sleep': [],
  'resource.terraform_data': [],
  'resource.google_project_service_identity': ['roles/serviceusage.serviceUsageAdmin'],
  'resource.google_project_service': ['roles/serviceusage.serviceUsageAdmin'],
  'resource.google_project_iam_member': ['roles/resourcemanager.projectIamAdmin'],
  'resource.google_service_account': ['roles/iam.serviceAccountAdmin'],
  'resource.google_service_account_iam_member': ['roles/iam.serviceAccountAdmin'],
  'resource.google_pubsub_topic': ['roles/pubsub.admin'],
  'resource.google_pubsub_topic_iam_member': ['roles/pubsub.admin'],
  'resource.google_pubsub_subscription': ['roles/pubsub.admin', ACT_AS],
  'resource.google_pubsub_subscription_iam_member': ['roles/pubsub.admin'],
  'resource.google_secret_manager_secret': ['roles/secretmanager.admin'],
  'resource.google_secret_manager_secret_version': ['roles/secretmanager.admin'],
  'resource.google_secret_manager_secret_iam_member': ['roles/secretmanager.admin'],
  'resource.google_storage_bucket': ['roles/storage.admin'],
  'resource.google_storage_bucket_object': ['roles/storage.admin'],
  'resource.google_storage_bucket_iam_member': ['roles/storage.admin'],
  'resource.google_cloudfunctions2_function': ['roles/cloudfunctions.admin', ACT_AS],
  'resource.google_cloud_run_service_iam_member': ['roles/run.admin'],
  'resource.google_firestore_database': ['roles/datastore.owner'],
  'resource.google_firestore_field': ['roles/datastore.owner'],
  'resource.google_firestore_index': ['roles/datastore.owner'],
  'resource.google_bigquery_dataset': ['roles/bigquery.admin'],
  'resource.google_bigquery_dataset_iam_member': ['roles/bigquery.admin'],
  'resource.google_bigquery_table': ['roles/bigquery.admin'],
  'resource.google_bigquery_table_iam_member': ['roles/bigquery.admin'],
  'resource.google_bigquery_job': ['roles/bigquery.admin'],
  'resource.google_bigquery_data_transfer_config': ['roles/bigquery.admin', ACT_AS],
  'resource.google_cloud_scheduler_job': ['roles/cloudscheduler.admin'],
  // The state store (state_store bigtable): instances, tables, garbage-collection policies and
  // instance IAM are Bigtable Administrator's (https://cloud.google.com/iam/docs/roles-permissions/bigtable).
  'resource.google_bigtable_instance': ['roles/bigtable.admin'],
  'resource.google_bigtable_table': ['roles/bigtable.admin'],
  'resource.google_bigtable_gc_policy': ['roles/bigtable.admin'],
  'resource.google_bigtable_instance_iam_member': ['roles/bigtable.admin'],
};

/** The roles the README lists between its deployer-roles markers. */
function readmeRoles(): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const m = /<!-- deployer-roles -->([\s\S]*?)<!-- \/deployer-roles -->/.exec(readme);
  if (!m) throw new Error('README.md has no <!-- deployer-roles --> list');
  return [...m[1]!.matchAll(/`(roles\/[A-Za-z.]+)`/g)].map((x) => x[1]!).sort();
}

describe("the deployer's roles", () => {
  it('are known for every resource and data source type infra/ uses', async () => {
    const infra = await loadInfra(INFRA);
    const used = [...new Set(infra.resources.map((r) => `${r.kind}.${r.type}`))].sort();
    expect(used.filter((t) => !(t in ROLES))).toEqual([]);
  });

  it('are listed in the README, exactly', async () => {
    const infra = await loadInfra(INFRA);
    const needed = [...new Set(infra.resources.flatMap((r) => ROLES[`${r.kind}.${r.type}`] ?? []))].sort();
    expect(readmeRoles()).toEqual(needed);
  });
});
