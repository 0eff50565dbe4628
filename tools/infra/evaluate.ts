/**
 * Real Terraform, offline: infra/modules/topology holds only expressions over the manifest (no
 * provider), so `terraform console` evaluates it without downloading anything. The tests and
 * `resource-count` use this to see exactly what Terraform makes of a manifest.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The repository's root, from tools/infra (sources, under jest) or dist/tools/infra (built). */
export function repoRoot(): string {
  const root = [resolve(__dirname, '..', '..'), resolve(__dirname, '..', '..', '..')].find((d) => existsSync(join(d, 'infra', 'modules', 'topology')));
  if (!root) throw new Error(`cannot find the repository's infra/ from ${__dirname}`);
  return root;
}

/** Runs terraform (on PATH) without its CLI config warnings or any network: returns status and output. */
export function terraform(args: string[], cwd: string, input?: string): { status: number; stdout: string; stderr: string } {
  try {
    const stdout = execFileSync('terraform', args, {
      cwd,
      input,
      encoding: 'utf8',
      env: { ...process.env, TF_IN_AUTOMATION: '1', CHECKPOINT_DISABLE: '1', TF_CLI_CONFIG_FILE: '/dev/null' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    return { status: 0, stdout, stderr: '' };
  } catch (err) {
    const e = err as { status: number | null; stdout?: string; stderr?: string };
    return { status: e.status ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/**
 * Evaluates infra/modules/topology (pure expressions, no provider: real Terraform runs it offline)
 * on a manifest, and returns its outputs as Terraform computes them.
 */
export function evaluateTopology(manifest: unknown, resourcePrefix = '', infraDir = join(repoRoot(), 'infra'), functionEnvironment: Record<string, Record<string, string>> = {}): TopologyOutputs {
  const dir = mkdtempSync(join(tmpdir(), 'infra-topology-'));
  writeFileSync(join(dir, 'topology.json'), JSON.stringify(manifest));
  writeFileSync(
    join(dir, 'main.tf'),
    `module "topology" {
  source          = ${JSON.stringify(join(infraDir, 'modules', 'topology'))}
  manifest        = jsondecode(file("\${path.module}/topology.json"))
  resource_prefix = ${JSON.stringify(resourcePrefix)}
  function_environment = jsondecode(${JSON.stringify(JSON.stringify(functionEnvironment))})
}
`,
  );
  const init = terraform(['init', '-input=false', '-backend=false'], dir);
  if (init.status !== 0) throw new Error(`terraform init failed:\n${init.stderr}${init.stdout}`);
  const out = terraform(['console'], dir, 'jsonencode(module.topology)\n');
  if (out.status !== 0) throw new Error(`terraform console failed:\n${out.stderr}${out.stdout}`);
  return JSON.parse(JSON.parse(out.stdout.trim()) as string) as TopologyOutputs;
}

export interface TopologyOutputs {
  topics: Record<string, { name: string; description: string }>;
  subscriptions: Record<string, TfSubscription>;
  push_subscriptions: Record<string, TfSubscription>;
  pull_subscriptions: Record<string, TfSubscription>;
  bigquery_subscriptions: Record<string, TfSubscription>;
  dead_letter_topics: string[];
  bigquery_tables: string[];
  functions: Record<
    string,
    {
      name: string;
      entry_point: string;
      account_id: string;
      publishes: string[];
      secrets: Record<string, string>;
      firestore: boolean;
      /** The Bigtable tables it keeps state in (when the deployment's state_store is bigtable). */
      bigtable: string[];
      operator_api: boolean;
      timeout_seconds: number;
    }
  >;
  secrets: Record<string, { secret_id: string; env: string; description: string }>;
  secret_placeholder: string;
  /** The Bigtable instance of the deployment (its functions' BIGTABLE_INSTANCE). */
  bigtable_instance_id: string;
  /** Bigtable table => its column families. */
  bigtable_tables: Record<string, string[]>;
  /** "table/family" => its garbage-collection max age (a Go duration in seconds, e.g. "608425s"). */
  bigtable_gc: Record<string, { table: string; family: string; max_age: string }>;
  firestore_ttl: Record<string, string>;
  firestore_indexes: Record<string, { collection: string; fields: string[] }>;
}

export interface TfSubscription {
  name: string;
  topic: string;
  delivery: 'push' | 'pull' | 'bigquery';
  function: string | null;
  bigquery_table: string | null;
  filter: string | null;
  dead_letter_topic: string | null;
  max_delivery_attempts: number;
  ack_deadline_seconds: number;
  minimum_backoff: string;
  maximum_backoff: string;
  message_retention: string;
}
