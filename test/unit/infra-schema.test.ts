/**
 * infra/ against what can be known offline: `terraform fmt`, and every resource type, argument
 * and block name against the google provider 6.50.0 schema (infra/provider-schema.json,
 * extracted by tools/infra/extract-provider-schema.ts). A wrong name must fail here, since
 * `terraform validate` cannot run without the provider.
 */
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkProviderSchema, checkReferences, loadInfra, UNVERIFIABLE, unverifiedTypes } from '../../tools/infra/check';
import { INFRA, mutatedInfra, providerSchema, terraform } from '../support/infra';

describe('terraform fmt', () => {
  it('finds infra/ formatted', () => {
    const r = terraform(['fmt', '-check', '-recursive', '-diff', INFRA], INFRA);
    expect(r.stdout).toBe('');
    expect(r.status).toBe(0);
  });

  it('fails on a file that is not formatted', () => {
    const dir = mkdtempSync(join(tmpdir(), 'infra-fmt-'));
    cpSync(join(INFRA, 'modules', 'secrets'), dir, { recursive: true });
    const file = join(dir, 'main.tf');
    writeFileSync(file, readFileSync(file, 'utf8').replace('  project   = var.project_id', '  project = var.project_id'));
    const r = terraform(['fmt', '-check', '-recursive', dir], dir);
    expect(r.status).not.toBe(0);
    expect(r.stdout).toContain('main.tf');
  });
});

describe('the google provider schema', () => {
  const schema = providerSchema();

  it('leaves unchecked only the types it cannot know offline, each named with why', async () => {
    const infra = await loadInfra(INFRA);
    const unverified = unverifiedTypes(infra);
    expect(unverified).toEqual(['data.archive_file', 'resource.google_project_service_identity', 'resource.terraform_data', 'resource.time_sleep']);
    for (const t of unverified) expect(UNVERIFIABLE[t]).toMatch(/\w/);
    // A google-beta type is beta indeed: not in the GA provider's list of types.
    expect(schema.types.resource).not.toContain('google_project_service_identity');
  });

  it('is the provider version versions.tf pins', () => {
    expect(schema.provider).toBe('hashicorp/google 6.50.0');
    for (const f of ['versions.tf', 'modules/pubsub/versions.tf', 'modules/function/versions.tf']) {
      expect(readFileSync(join(INFRA, f), 'utf8')).toMatch(/source\s+= "hashicorp\/google"\s+version\s+= "~> 6\.50"/);
    }
  });

  it('knows every type, argument and block infra/ writes', async () => {
    const infra = await loadInfra(INFRA);
    expect(infra.resources.filter((r) => r.type.startsWith('google_')).length).toBeGreaterThan(20);
    expect(checkProviderSchema(infra, schema)).toEqual([]);
  });

  it.each([
    ['a wrong argument name', 'modules/pubsub/main.tf', 'ack_deadline_seconds       =', 'ack_deadline               =', /google_pubsub_subscription\.sub: "ack_deadline" is not an argument or block/],
    ['a wrong name in a nested block', 'modules/pubsub/main.tf', 'audience              =', 'audiance              =', /google_pubsub_subscription\.sub\.push_config\.oidc_token: "audiance"/],
    ['a wrong dynamic block name', 'modules/function/main.tf', 'dynamic "secret_environment_variables"', 'dynamic "secret_env_variables"', /service_config: "secret_env_variables" is not a block/],
    ['a wrong name two blocks down', 'modules/function/main.tf', '        bucket = var.source_bucket', '        bucket_name = var.source_bucket', /build_config\.source\.storage_source: "bucket_name"/],
    ['a resource type the provider does not have', 'modules/firestore/main.tf', 'resource "google_firestore_field" "ttl"', 'resource "google_firestore_ttl" "ttl"', /google_firestore_ttl\.ttl: no such resource type in hashicorp\/google 6\.50\.0/],
    ['a misremembered autoscaling argument', 'modules/bigtable/main.tf', 'cpu_target = var.cpu_target', 'cpu_utilization_target = var.cpu_target', /google_bigtable_instance\.state\.cluster\.autoscaling_config: "cpu_utilization_target"/],
    ['a column family written as a list argument', 'modules/bigtable/main.tf', '      family = column_family.value', '      name = column_family.value', /google_bigtable_table\.table\.column_family: "name"/],
    ['a max age in days as the block argument', 'modules/bigtable/main.tf', '    duration = each.value.max_age', '    max_age_duration = each.value.max_age', /google_bigtable_gc_policy\.max_age\.max_age: "max_age_duration"/],
    ['a beta-only type', 'main.tf', 'data "google_project" "this" {', 'resource "google_project_service_identity" "pubsub" {\n  service = "pubsub.googleapis.com"\n}\n\ndata "google_project" "this" {', /google_project_service_identity\.pubsub: no such resource type/],
  ])('fails on %s', async (_what, file, from, to, problem) => {
    const mutant = await mutatedInfra(file, (text) => text.replace(from, to));
    const problems = checkProviderSchema(mutant, schema);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(problem);
  });
});

describe('references to google resources', () => {
  const schema = providerSchema();

  it('read only attributes the provider has (computed ones included)', async () => {
    const infra = await loadInfra(INFRA);
    expect(checkReferences(infra, schema)).toEqual([]);
    // The check sees the references that matter, e.g. the function URL the pushes go to.
    expect(JSON.stringify([...infra.files.values()])).toContain('google_cloudfunctions2_function.fn.service_config[0].uri');
  });

  it.each([
    ['a misremembered output name', 'modules/function/outputs.tf', 'service_config[0].uri', 'service_config[0].url', /google_cloudfunctions2_function\.fn has no readable attribute "url"/],
    ['a computed attribute that does not exist', 'modules/function/main.tf', 'member  = google_service_account.fn.member', 'member  = google_service_account.fn.iam_member', /google_service_account\.fn has no readable attribute "iam_member"/],
    ['a wrong data source attribute', 'main.tf', 'project_number = data.google_project.this.number', 'project_number = data.google_project.this.project_number', /data\.google_project\.this has no readable attribute "project_number"/],
  ])('fails on %s', async (_what, file, from, to, problem) => {
    const problems = checkReferences(await mutatedInfra(file, (t) => t.replace(from, to)), schema);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(problem);
  });
});
