/**
 * The rules of DESIGN §6 held against the HCL's shape (tools/infra/check.ts): dead letters and
 * retries on every push and BigQuery subscription, nothing public, publisher grants only as the
 * manifest lists them, secrets only as the manifest lists them, Bigtable access only on the state
 * store's instance for the functions that list its tables, and the manifest wired to every
 * resource that exists once per manifest entry. Each rule is shown failing on a mutated copy.
 */
import { checkPolicy, checkWiring, loadInfra } from '../../tools/infra/check';
import { INFRA, mutatedInfra } from '../support/infra';

describe('infra/ policy', () => {
  it('holds on infra/ as committed', async () => {
    const infra = await loadInfra(INFRA);
    expect(checkPolicy(infra)).toEqual([]);
    expect(checkWiring(infra)).toEqual([]);
  });

  const DEAD_LETTER_BLOCK = / {2}dynamic "dead_letter_policy" \{[^]*?\n {2}\}\n/;

  it.each([
    ['a missing dead-letter policy', 'modules/pubsub/main.tf', (t: string) => t.replace(DEAD_LETTER_BLOCK, ''), /google_pubsub_subscription\.sub: a push subscription without dead_letter_policy/],
    ['a missing retry policy', 'modules/pubsub/main.tf', (t: string) => t.replace(/ {2}retry_policy \{[^]*?\n {2}\}\n/, ''), /a push subscription without retry_policy/],
    ['a push without OIDC', 'modules/pubsub/main.tf', (t: string) => t.replace(/ {6}oidc_token \{[^]*?\n {6}\}\n/, ''), /push_config without oidc_token/],
    ['an unwrapped push', 'modules/pubsub/main.tf', (t: string) => t.replace('      oidc_token {', '      no_wrapper {\n        write_metadata = true\n      }\n      oidc_token {'), /no_wrapper/],
    [
      'an allUsers binding',
      'modules/function/main.tf',
      (t: string) => `${t}\nresource "google_cloud_run_service_iam_member" "public" {\n  location = var.region\n  service  = google_cloudfunctions2_function.fn.name\n  role     = "roles/run.invoker"\n  member   = "allUsers"\n}\n`,
      /google_cloud_run_service_iam_member\.public: grants or names a public member \(allUsers\)/,
    ],
    ['allAuthenticatedUsers passed to a module', 'main.tf', (t: string) => t.replace('operator_members      = var.operator_members', 'operator_members      = ["allAuthenticatedUsers"]'), /module function: passes a public member \(allAuthenticatedUsers\)/],
    ['a function granted every topic', 'modules/function/main.tf', (t: string) => t.replace('for_each = var.spec.publishes', 'for_each = toset(keys(var.topic_ids))'), /publishes: publisher grant outside the manifest/],
    [
      'a function granted a topic outside its manifest entry',
      'main.tf',
      (t: string) => `${t}\nresource "google_pubsub_topic_iam_member" "validator_raw" {\n  topic  = module.pubsub.topic_ids["events-raw"]\n  role   = "roles/pubsub.publisher"\n  member = "serviceAccount:\${module.function["validator"].service_account_email}"\n}\n`,
      /google_pubsub_topic_iam_member\.validator_raw: publisher grant outside the manifest/,
    ],
    [
      'a project-wide publisher role',
      'modules/function/main.tf',
      (t: string) => t.replace('role    = "roles/datastore.user"', 'role    = "roles/pubsub.publisher"'),
      /google_project_iam_member\.firestore: project-wide roles\/pubsub\.publisher/,
    ],
    [
      'a project-wide Bigtable role',
      'modules/function/main.tf',
      (t: string) => t.replace('role    = "roles/datastore.user"', 'role    = "roles/bigtable.user"'),
      /google_project_iam_member\.firestore: project-wide roles\/bigtable\.user/,
    ],
    ['Bigtable administration for a function', 'modules/function/main.tf', (t: string) => t.replace('role     = "roles/bigtable.user"', 'role     = "roles/bigtable.admin"'), /google_bigtable_instance_iam_member\.state: Bigtable grant outside the manifest/],
    ['a Bigtable grant to every function', 'modules/function/main.tf', (t: string) => t.replace('count = var.bigtable_instance != null && length(var.spec.bigtable) > 0 ? 1 : 0', 'count = var.bigtable_instance != null ? 1 : 0'), /google_bigtable_instance_iam_member\.state: Bigtable grant outside the manifest/],
    ['a garbage-collection policy without a rule', 'modules/bigtable/main.tf', (t: string) => t.replace(/\n {2}max_age \{[^]*?\n {2}\}\n/, '\n'), /google_bigtable_gc_policy\.max_age: a garbage-collection policy without a rule/],
    ['a function reading every secret', 'modules/function/main.tf', (t: string) => t.replace('  for_each = var.spec.secrets\n\n  project   = var.project_id\n  secret_id', '  for_each = var.secret_ids\n\n  project   = var.project_id\n  secret_id'), /reads: secret access not keyed by the function's manifest secrets/],
  ])('fails on %s', async (_what, file, edit, problem) => {
    const problems = checkPolicy(await mutatedInfra(file, edit));
    expect(problems.some((p) => problem.test(p))).toBe(true);
  });

  it.each([
    ['a function list not from the manifest', 'main.tf', (t: string) => t.replace('for_each = module.topology.functions', 'for_each = { for k, f in module.topology.functions : k => f if k != "dlq-triage" }'), /functions \(module\.function for_each\)/],
    ['subscriptions not from the manifest', 'main.tf', (t: string) => t.replace('subscriptions  = module.topology.subscriptions', 'subscriptions  = module.topology.push_subscriptions'), /subscriptions \(pubsub module\)/],
    ['a subscription resource that does not iterate', 'modules/pubsub/main.tf', (t: string) => t.replace('  for_each = var.subscriptions\n', '  for_each = { for k, s in var.subscriptions : k => s if s.delivery == "push" }\n'), /one subscription per manifest subscription/],
    ['a hard-coded entry point', 'modules/function/main.tf', (t: string) => t.replace('entry_point     = var.spec.entry_point', 'entry_point     = "validator"'), /entry point/],
    ['a Bigtable instance whatever the state store', 'main.tf', (t: string) => t.replace('count  = local.bigtable ? 1 : 0', 'count  = 1'), /the Bigtable instance only with the Bigtable state store/],
    ['Bigtable tables written in HCL', 'main.tf', (t: string) => t.replace('tables              = module.topology.bigtable_tables', 'tables              = { "dedup-keys" = ["k"] }'), /Bigtable tables \(bigtable module\)/],
    ['garbage-collection policies not from the manifest', 'main.tf', (t: string) => t.replace('gc_policies         = module.topology.bigtable_gc', 'gc_policies         = {}'), /garbage-collection policies \(bigtable module\)/],
    ['a table resource that does not iterate', 'modules/bigtable/main.tf', (t: string) => t.replace('  for_each = var.tables\n', '  for_each = { for k, f in var.tables : k => f if k != "gap-markers" }\n'), /one table per manifest table/],
    ['a function told another instance than the one created', 'main.tf', (t: string) => t.replace('BIGTABLE_INSTANCE = module.topology.bigtable_instance_id', 'BIGTABLE_INSTANCE = "event-recovery"'), /the state store's environment \(BIGTABLE_INSTANCE\)/],
    ['the Bigtable grant on a hard-coded instance', 'main.tf', (t: string) => t.replace('bigtable_instance     = local.bigtable ? module.topology.bigtable_instance_id : null', 'bigtable_instance     = "event-recovery"'), /the instance a function is granted/],
  ])('names the broken wiring when %s', async (_what, file, edit, problem) => {
    const problems = checkWiring(await mutatedInfra(file, edit));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(problem);
  });
});
