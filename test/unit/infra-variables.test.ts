/**
 * The root module's input validations, run by real Terraform offline: infra/variables.tf alone
 * (no resource, so no provider to download) is evaluated by `terraform console` with the values
 * a deployer would pass (`terraform plan` of a configuration without resources runs every
 * validation, and fails on one; `terraform console` only warns), and must refuse what GCP would
 * refuse at apply.
 */
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INFRA, terraform } from '../support/infra';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'infra-variables-'));
  copyFileSync(join(INFRA, 'variables.tf'), join(dir, 'variables.tf'));
  const init = terraform(['init', '-input=false', '-backend=false'], dir);
  if (init.status !== 0) throw new Error(`terraform init failed:\n${init.stderr}${init.stdout}`);
});

/** Evaluates var.function_settings with `value` (HCL); returns Terraform's status and what it said. */
function withSettings(value: string): { status: number; said: string } {
  const out = terraform(['plan', '-input=false', '-lock=false', '-no-color', '-var', 'project_id=p', '-var', 'region=europe-west1', '-var', `function_settings=${value}`], dir);
  return { status: out.status, said: `${out.stdout}${out.stderr}` };
}

describe('function_settings', () => {
  it.each([
    ['nothing set', '{}'],
    ['concurrency 1 at the default vCPU', '{ "validator" = { concurrency = 1 } }'],
    ['concurrency 8 with 1 vCPU', '{ "deduplicator" = { concurrency = 8, available_cpu = "1" } }'],
    ['concurrency 80 with 2 vCPU', '{ "gap-detector" = { concurrency = 80, available_cpu = "2", memory = "2Gi" } }'],
    ['a fraction of a vCPU at concurrency 1', '{ "validator" = { available_cpu = "0.5" } }'],
  ])('accepts %s', (_name, value) => {
    expect(withSettings(value)).toMatchObject({ status: 0 });
  });

  it.each([
    ['concurrency above 1 at the memory tier (0.333 vCPU at 512Mi)', '{ "deduplicator" = { concurrency = 8 } }', /concurrency above 1 needs available_cpu of "1" or more/],
    ['concurrency above 1 with half a vCPU', '{ "deduplicator" = { concurrency = 4, available_cpu = "0.5" } }', /concurrency above 1 needs available_cpu of "1" or more/],
    ['a vCPU count that is not one', '{ "validator" = { available_cpu = "1.5" } }', /available_cpu is a vCPU count/],
  ])('refuses %s', (_name, value, why) => {
    const out = withSettings(value);
    expect(out.status).not.toBe(0);
    expect(out.said.replace(/[\s│]+/g, ' ')).toMatch(why);
  });
});

/** Plans infra/variables.tf alone with these -var values (HCL); returns Terraform's status and what it said. */
function withVars(vars: Record<string, string>): { status: number; said: string } {
  const args = Object.entries({ project_id: 'p', region: 'europe-west1', ...vars }).flatMap(([k, v]) => ['-var', `${k}=${v}`]);
  const out = terraform(['plan', '-input=false', '-lock=false', '-no-color', ...args], dir);
  return { status: out.status, said: `${out.stdout}${out.stderr}`.replace(/[\s│]+/g, ' ') };
}

describe('the state store', () => {
  it.each([
    ['the default (bigtable)', {}],
    ['firestore', { state_store: 'firestore' }],
    ['bigtable, autoscaling to 10 nodes at 80 % CPU', { state_store: 'bigtable', bigtable_max_nodes: '10', bigtable_cpu_target: '80' }],
    ['one node at most, 10 % CPU', { bigtable_max_nodes: '1', bigtable_cpu_target: '10' }],
  ])('accepts %s', (_name, vars) => {
    expect(withVars(vars)).toMatchObject({ status: 0 });
  });

  it.each([
    ['another store', { state_store: 'spanner' }, /state_store must be "bigtable" or "firestore"/],
    ['more than ten times the one-node minimum', { bigtable_max_nodes: '11' }, /bigtable_max_nodes must be a whole number from 1 to 10/],
    ['no node at all', { bigtable_max_nodes: '0' }, /bigtable_max_nodes must be a whole number from 1 to 10/],
    ['a CPU target above 80 %', { bigtable_cpu_target: '90' }, /bigtable_cpu_target must be a whole percentage from 10 to 80/],
    ['a CPU target below 10 %', { bigtable_cpu_target: '5' }, /bigtable_cpu_target must be a whole percentage from 10 to 80/],
    ['STATE_STORE in a function\'s settings (the instance and grants follow state_store)', { function_settings: '{ "deduplicator" = { environment = { STATE_STORE = "firestore" } } }' }, /may not set RESOURCE_PREFIX \(use resource_prefix\), STATE_STORE or BIGTABLE_INSTANCE/],
    ['BIGTABLE_INSTANCE in a function\'s settings', { function_settings: '{ "gap-detector" = { environment = { BIGTABLE_INSTANCE = "other-instance" } } }' }, /STATE_STORE or BIGTABLE_INSTANCE \(use state_store/],
  ])('refuses %s', (_name, vars, why) => {
    const out = withVars(vars);
    expect(out.status).not.toBe(0);
    expect(out.said).toMatch(why);
  });
});
