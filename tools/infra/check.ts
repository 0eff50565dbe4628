/**
 * Offline checks of the Terraform in infra/ (the google provider cannot be downloaded where the
 * tests run, so `terraform validate` and `plan` cannot): the HCL, parsed with @cdktf/hcl2json,
 * is held against the google provider's schema (infra/provider-schema.json: the arguments it
 * writes and the attributes it reads) and against the
 * rules of DESIGN §6 that the manifest's for_each wiring must keep. test/unit/infra-*.test.ts
 * run these on infra/ and on mutated copies of it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { parse } from '@cdktf/hcl2json';
import type { BlockSchema, ProviderSchemaFile, ReadableTree } from './extract-provider-schema';

type Json = unknown;
type Body = Record<string, Json>;

/** One `resource` or `data` block of one module. */
export interface TfResource {
  /** The module's folder relative to infra/ ('' for the root). */
  readonly module: string;
  readonly file: string;
  readonly kind: 'resource' | 'data';
  readonly type: string;
  readonly name: string;
  readonly body: Body;
}

/** One `module` call. */
export interface TfModuleCall {
  readonly module: string;
  readonly file: string;
  readonly name: string;
  readonly body: Body;
}

export interface Infra {
  readonly dir: string;
  readonly resources: readonly TfResource[];
  readonly calls: readonly TfModuleCall[];
  /** Every file's parsed JSON, by path relative to infra/. */
  readonly files: ReadonlyMap<string, Body>;
}

function tfFiles(dir: string): string[] {
  const out: string[] = [];
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    if (d.name.startsWith('.')) continue;
    const p = join(dir, d.name);
    if (d.isDirectory()) out.push(...tfFiles(p));
    else if (d.name.endsWith('.tf')) out.push(p);
  }
  return out.sort();
}

const isObject = (v: Json): v is Body => typeof v === 'object' && v !== null && !Array.isArray(v);
const blocksOf = (v: Json): Body[] => (Array.isArray(v) ? v.filter(isObject) : isObject(v) ? [v] : []);

/** Parses every .tf file under `dir` (a failed parse throws, naming the file). */
export async function loadInfra(dir: string): Promise<Infra> {
  const resources: TfResource[] = [];
  const calls: TfModuleCall[] = [];
  const files = new Map<string, Body>();
  for (const path of tfFiles(dir)) {
    const file = relative(dir, path).split(sep).join('/');
    const module = file.includes('/') ? file.slice(0, file.lastIndexOf('/')) : '';
    let json: Body;
    try {
      json = (await parse(file, readFileSync(path, 'utf8'))) as Body;
    } catch (err) {
      throw new Error(`infra/${file} does not parse: ${(err as Error).message}`);
    }
    files.set(file, json);
    for (const kind of ['resource', 'data'] as const) {
      const byType = json[kind];
      if (!isObject(byType)) continue;
      for (const [type, byName] of Object.entries(byType)) {
        if (!isObject(byName)) continue;
        for (const [name, bodies] of Object.entries(byName)) {
          for (const body of blocksOf(bodies)) resources.push({ module, file, kind, type, name, body });
        }
      }
    }
    if (isObject(json.module)) {
      for (const [name, bodies] of Object.entries(json.module)) for (const body of blocksOf(bodies)) calls.push({ module, file, name, body });
    }
  }
  return { dir, resources, calls, files };
}

/** Terraform's meta-arguments: not part of any provider schema. */
const META = new Set(['count', 'for_each', 'depends_on', 'provider', 'lifecycle', 'provisioner', 'connection']);

/** The nested blocks of `name` in a body, static ones and the `content` of dynamic ones. */
export function blocks(body: Body, name: string): Body[] {
  const dynamic = isObject(body.dynamic) ? blocksOf(body.dynamic[name]).flatMap((d) => blocksOf(d.content)) : [];
  return [...blocksOf(body[name]), ...dynamic];
}

function checkBody(body: Body, schema: BlockSchema, where: string, top: boolean, problems: string[]): void {
  const attributes = new Set(schema.attributes);
  const entries: Array<[string, Json, boolean]> = [];
  for (const [key, value] of Object.entries(body)) {
    if (key === 'dynamic' && isObject(value)) {
      for (const [name, dyn] of Object.entries(value)) {
        for (const d of blocksOf(dyn)) for (const content of blocksOf(d.content)) entries.push([name, [content], true]);
      }
      continue;
    }
    if (top && META.has(key)) continue;
    entries.push([key, value, false]);
  }
  for (const [key, value, dynamic] of entries) {
    const child = schema.blocks[key];
    if (child) {
      for (const b of blocksOf(value)) checkBody(b, child, `${where}.${key}`, false, problems);
    } else if (!attributes.has(key) || dynamic) {
      problems.push(`${where}: "${key}" is not ${dynamic ? 'a block' : 'an argument or block'} of this type in the google provider schema`);
    }
  }
}

/**
 * Every google resource and data source type infra/ uses exists in the provider version of
 * `schema`, and every argument and block written (nested and dynamic blocks too) is in its schema.
 */
export function checkProviderSchema(infra: Infra, schema: ProviderSchemaFile): string[] {
  const problems: string[] = [];
  for (const r of infra.resources) {
    if (!r.type.startsWith('google_') || unverifiable(r) !== undefined) continue;
    const where = `infra/${r.file}: ${r.kind} ${r.type}.${r.name}`;
    if (!schema.types[r.kind].includes(r.type)) {
      problems.push(`${where}: no such ${r.kind === 'data' ? 'data source' : 'resource'} type in ${schema.provider}`);
      continue;
    }
    const s = schema.schemas[`${r.kind}.${r.type}`];
    if (!s) {
      problems.push(`${where}: not in infra/provider-schema.json: regenerate it (tools/infra/extract-provider-schema.ts)`);
      continue;
    }
    checkBody(r.body, s, where, true, problems);
  }
  return problems;
}

/**
 * Resource types whose schema cannot be held offline, each with why it is used anyway: no
 * schema of their provider is available here (only @cdktf/provider-google, the GA google
 * provider). `unverifiedTypes` lists what infra/ uses of them; a test holds that list, so a new
 * unverifiable type is a decision, not an accident.
 */
export const UNVERIFIABLE: Readonly<Record<string, string>> = {
  'resource.google_project_service_identity': 'google-beta only (not in the GA provider): makes the Pub/Sub and BigQuery Data Transfer service agents exist before the grants to them',
  'resource.time_sleep': 'hashicorp/time: the wait for IAM propagation after the grants the BigQuery subscriptions, the builds and the scheduled query depend on',
  'data.archive_file': 'hashicorp/archive: the source archive (test/integration/deploy-rehearsal.test.ts rehearses what it selects)',
  'resource.terraform_data': "Terraform's built-in resource: no provider",
};

function unverifiable(r: TfResource): string | undefined {
  const why = UNVERIFIABLE[`${r.kind}.${r.type}`];
  // A google type outside the GA schema is unverifiable only where it asks for google-beta;
  // without that, the GA provider would refuse it, and so does checkProviderSchema.
  if (why && r.type.startsWith('google_') && !/^(\$\{)?google-beta\}?$/.test(String(r.body.provider))) return undefined;
  return why;
}

/** The `kind.type`s of infra/ that are checked against no schema (UNVERIFIABLE), sorted. */
export function unverifiedTypes(infra: Infra): string[] {
  return [...new Set(infra.resources.filter((r) => !r.type.startsWith('google_') || unverifiable(r) !== undefined).map((r) => `${r.kind}.${r.type}`))].sort();
}

/** `google_x.name` or `data.google_x.name` at the start of a reference (not inside another name). */
const REFERENCE = /(?<![\w.])(data\.)?(google_[a-z0-9_]+)\.([a-z0-9_-]+)/g;

/** The `.attribute` names after a reference, skipping index brackets (balanced) and splats. */
function pathAfter(text: string, from: number): string[] {
  const path: string[] = [];
  let i = from;
  for (;;) {
    if (text[i] === '[') {
      let depth = 0;
      do {
        if (text[i] === '[') depth++;
        else if (text[i] === ']') depth--;
        i++;
      } while (depth > 0 && i < text.length);
      continue;
    }
    const m = /^\.([A-Za-z_][A-Za-z0-9_]*)/.exec(text.slice(i));
    if (!m || m[1] === '*') break;
    path.push(m[1]!);
    i += m[0].length;
  }
  return path;
}

/**
 * Every attribute an expression reads of a google resource or data source (e.g.
 * `google_cloudfunctions2_function.fn.service_config[0].uri`) exists in the provider schema,
 * computed attributes included: a misremembered output name fails here, not at plan time.
 */
export function checkReferences(infra: Infra, schema: ProviderSchemaFile): string[] {
  const problems: string[] = [];
  for (const [file, json] of infra.files) {
    for (const text of strings(json)) {
      for (const m of text.matchAll(REFERENCE)) {
        const kind = m[1] ? 'data' : 'resource';
        const tree = schema.readable[`${kind}.${m[2]}`];
        if (!tree) continue; // an unknown type is checkProviderSchema's finding
        let node: ReadableTree | null = tree;
        for (const name of pathAfter(text, m.index + m[0].length)) {
          if (node === null) break; // a value read further (a map key, an object field)
          if (!(name in node)) {
            problems.push(`infra/${file}: ${m[0]} has no readable attribute "${name}" (${text.length > 120 ? `${text.slice(0, 117)}...` : text})`);
            break;
          }
          node = node[name]!;
        }
      }
    }
  }
  return problems;
}

const PUBLIC = /\b(allUsers|allAuthenticatedUsers)\b/;

function strings(value: Json, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) strings(v, out);
  else if (isObject(value)) for (const v of Object.values(value)) strings(v, out);
  return out;
}

const PUBLISHER_ROLES = new Set(['roles/pubsub.publisher', 'roles/pubsub.editor', 'roles/pubsub.admin', 'roles/editor', 'roles/owner']);

/**
 * The rules of DESIGN §6 that the HCL's shape must keep, whatever the manifest holds:
 * - every push or BigQuery subscription has a dead_letter_policy and a retry_policy; a push
 *   carries an OIDC token and the wrapped body (no no_wrapper);
 * - nothing is granted to allUsers or allAuthenticatedUsers;
 * - a function's service account is publisher only through the one grant keyed by its manifest
 *   `publishes` (modules/function); the only other publisher is the Pub/Sub service agent, on
 *   dead-letter topics; no project-wide Pub/Sub role;
 * - a function mounts, and may read, exactly its manifest `secrets`;
 * - Bigtable: roles/bigtable.user on the instance only, to a function whose manifest entry lists a
 *   table; no project-wide Bigtable role, no authoritative Bigtable IAM; every garbage-collection
 *   policy has a rule.
 */
export function checkPolicy(infra: Infra): string[] {
  const problems: string[] = [];
  for (const r of infra.resources) {
    const where = `infra/${r.file}: ${r.type}.${r.name}`;
    for (const s of strings(r.body)) if (PUBLIC.test(s)) problems.push(`${where}: grants or names a public member (${PUBLIC.exec(s)![1]})`);

    if (r.type === 'google_pubsub_subscription') {
      const push = blocks(r.body, 'push_config');
      const bigquery = blocks(r.body, 'bigquery_config');
      if (push.length + bigquery.length > 0) {
        if (blocks(r.body, 'dead_letter_policy').length === 0) problems.push(`${where}: a ${push.length ? 'push' : 'BigQuery'} subscription without dead_letter_policy`);
        if (blocks(r.body, 'retry_policy').length === 0) problems.push(`${where}: a ${push.length ? 'push' : 'BigQuery'} subscription without retry_policy`);
      }
      for (const p of push) {
        if (blocks(p, 'oidc_token').length === 0) problems.push(`${where}: push_config without oidc_token`);
        if (blocks(p, 'no_wrapper').length > 0) problems.push(`${where}: push_config with no_wrapper (the Functions Framework needs the wrapped body)`);
      }
    }

    const role = typeof r.body.role === 'string' ? r.body.role : undefined;
    if (/^google_pubsub_topic_iam_(member|binding|policy)$/.test(r.type)) {
      if (r.type !== 'google_pubsub_topic_iam_member') problems.push(`${where}: authoritative topic IAM (${r.type}) would remove the manifest's grants`);
      else if (role !== undefined && PUBLISHER_ROLES.has(role)) {
        const fnGrant = r.module === 'modules/function' && r.body.for_each === '${var.spec.publishes}' && r.body.topic === '${var.topic_ids[each.key]}' && r.body.member === '${google_service_account.fn.member}';
        const agentGrant = r.module === 'modules/pubsub' && r.body.member === '${local.service_agent}' && String(r.body.for_each).includes('dead_letter_topic');
        if (!fnGrant && !agentGrant) {
          problems.push(`${where}: publisher grant outside the manifest: a function publishes only to its manifest "publishes" (modules/function, for_each = var.spec.publishes), the service agent only to dead-letter topics`);
        }
      }
    }
    if (/^google_project_iam_(member|binding|policy)$/.test(r.type) && role !== undefined && /^roles\/pubsub\./.test(role)) {
      problems.push(`${where}: project-wide ${role}: grant Pub/Sub roles per topic or subscription`);
    }
    if (/^google_project_iam_(member|binding|policy)$/.test(r.type) && role !== undefined && /^roles\/bigtable\./.test(role)) {
      problems.push(`${where}: project-wide ${role}: grant Bigtable roles on the state store's instance, to the functions that list its tables`);
    }
    if (/^google_bigtable_(instance|table)_iam_(binding|policy)$/.test(r.type)) problems.push(`${where}: authoritative Bigtable IAM (${r.type}) would remove other grants`);
    if (r.type === 'google_bigtable_instance_iam_member') {
      const fnGrant = r.module === 'modules/function' && role === 'roles/bigtable.user' && r.body.member === '${google_service_account.fn.member}' && String(r.body.count).includes('length(var.spec.bigtable) > 0');
      if (!fnGrant) problems.push(`${where}: Bigtable grant outside the manifest: roles/bigtable.user only, to a function whose manifest entry lists a table (modules/function, count on var.spec.bigtable)`);
    }
    if (r.type === 'google_bigtable_gc_policy' && blocks(r.body, 'max_age').length + (r.body.gc_rules === undefined ? 0 : 1) === 0) {
      problems.push(`${where}: a garbage-collection policy without a rule (max_age or gc_rules) keeps every cell forever`);
    }
    if (r.type === 'google_secret_manager_secret_iam_member' && r.body.for_each !== '${var.spec.secrets}') {
      problems.push(`${where}: secret access not keyed by the function's manifest secrets (for_each = var.spec.secrets)`);
    }
    if (r.type === 'google_cloudfunctions2_function') {
      for (const sc of blocks(r.body, 'service_config')) {
        const dyn = isObject(sc.dynamic) ? blocksOf(sc.dynamic.secret_environment_variables) : [];
        if (blocksOf(sc.secret_environment_variables).length > 0 || dyn.some((d) => d.for_each !== '${var.spec.secrets}')) {
          problems.push(`${where}: secret_environment_variables not keyed by the function's manifest secrets (dynamic, for_each = var.spec.secrets)`);
        }
      }
    }
  }
  for (const c of infra.calls) {
    for (const s of strings(c.body)) if (PUBLIC.test(s)) problems.push(`infra/${c.file}: module ${c.name}: passes a public member (${PUBLIC.exec(s)![1]})`);
  }
  return problems;
}

/**
 * The wiring that makes the manifest the only source: what module.topology computes reaches
 * every resource that must exist once per manifest entry. A broken link here is a manifest entry
 * that Terraform would silently not create.
 */
export const WIRING: ReadonlyArray<{ readonly what: string; readonly find: (i: Infra) => Json; readonly expect: string }> = [
  { what: 'the manifest', find: (i) => call(i, 'topology')?.manifest, expect: '${jsondecode(file("${path.module}/../shared/topology.json"))}' },
  { what: 'functions (module.function for_each)', find: (i) => call(i, 'function')?.for_each, expect: '${module.topology.functions}' },
  { what: 'function spec', find: (i) => call(i, 'function')?.spec, expect: '${each.value}' },
  { what: 'topics (pubsub module)', find: (i) => call(i, 'pubsub')?.topics, expect: '${module.topology.topics}' },
  { what: 'subscriptions (pubsub module)', find: (i) => call(i, 'pubsub')?.subscriptions, expect: '${module.topology.subscriptions}' },
  { what: 'secrets (secrets module)', find: (i) => call(i, 'secrets')?.secrets, expect: '${module.topology.secrets}' },
  { what: 'archive tables (bigquery module)', find: (i) => call(i, 'bigquery')?.tables, expect: '${module.topology.bigquery_tables}' },
  { what: 'TTL policies (firestore module)', find: (i) => call(i, 'firestore')?.ttl_fields, expect: '${module.topology.firestore_ttl}' },
  { what: 'composite indexes (firestore module)', find: (i) => call(i, 'firestore')?.indexes, expect: '${module.topology.firestore_indexes}' },
  { what: 'one topic per manifest topic', find: (i) => res(i, 'modules/pubsub', 'google_pubsub_topic', 'topic')?.for_each, expect: '${var.topics}' },
  { what: 'one subscription per manifest subscription', find: (i) => res(i, 'modules/pubsub', 'google_pubsub_subscription', 'sub')?.for_each, expect: '${var.subscriptions}' },
  { what: 'one secret per manifest secret', find: (i) => res(i, 'modules/secrets', 'google_secret_manager_secret', 'secret')?.for_each, expect: '${var.secrets}' },
  { what: 'one archive table per BigQuery subscription table', find: (i) => res(i, 'modules/bigquery', 'google_bigquery_table', 'archive')?.for_each, expect: '${var.tables}' },
  { what: 'one TTL policy per collection', find: (i) => res(i, 'modules/firestore', 'google_firestore_field', 'ttl')?.for_each, expect: '${var.ttl_fields}' },
  { what: 'one index per composite index', find: (i) => res(i, 'modules/firestore', 'google_firestore_index', 'composite')?.for_each, expect: '${var.indexes}' },
  { what: "a function's publisher grants", find: (i) => res(i, 'modules/function', 'google_pubsub_topic_iam_member', 'publishes')?.for_each, expect: '${var.spec.publishes}' },
  { what: "a function's entry point", find: (i) => blocks(res(i, 'modules/function', 'google_cloudfunctions2_function', 'fn') ?? {}, 'build_config')[0]?.entry_point, expect: '${var.spec.entry_point}' },
  // The Bigtable state store: created only when var.state_store chooses it, its tables and their
  // garbage-collection policies from the manifest, the instance the functions are told and granted
  // the one module.topology names.
  { what: 'the Bigtable state store switch (local.bigtable)', find: (i) => local(i, 'bigtable'), expect: '${var.state_store == "bigtable"}' },
  { what: 'the Bigtable instance only with the Bigtable state store (bigtable module count)', find: (i) => call(i, 'bigtable')?.count, expect: '${local.bigtable ? 1 : 0}' },
  { what: 'the Bigtable instance id (bigtable module)', find: (i) => call(i, 'bigtable')?.instance_id, expect: '${module.topology.bigtable_instance_id}' },
  { what: 'Bigtable tables (bigtable module)', find: (i) => call(i, 'bigtable')?.tables, expect: '${module.topology.bigtable_tables}' },
  { what: 'garbage-collection policies (bigtable module)', find: (i) => call(i, 'bigtable')?.gc_policies, expect: '${module.topology.bigtable_gc}' },
  { what: 'one table per manifest table', find: (i) => res(i, 'modules/bigtable', 'google_bigtable_table', 'table')?.for_each, expect: '${var.tables}' },
  { what: 'one garbage-collection policy per column family', find: (i) => res(i, 'modules/bigtable', 'google_bigtable_gc_policy', 'max_age')?.for_each, expect: '${var.gc_policies}' },
  { what: 'the instance a function is granted (function module)', find: (i) => call(i, 'function')?.bigtable_instance, expect: '${local.bigtable ? module.topology.bigtable_instance_id : null}' },
  { what: "a function's Bigtable grant", find: (i) => res(i, 'modules/function', 'google_bigtable_instance_iam_member', 'state')?.count, expect: '${var.bigtable_instance != null && length(var.spec.bigtable) > 0 ? 1 : 0}' },
  { what: "the state store's environment (STATE_STORE)", find: (i) => (local(i, 'state_store_environment') as Body | undefined)?.STATE_STORE, expect: '${var.state_store}' },
  { what: "the state store's environment (BIGTABLE_INSTANCE)", find: (i) => (local(i, 'state_store_environment') as Body | undefined)?.BIGTABLE_INSTANCE, expect: '${module.topology.bigtable_instance_id}' },
];

/** A local of the root module, as parsed. */
function local(i: Infra, name: string): Json {
  for (const [file, json] of i.files) {
    if (file.includes('/')) continue;
    const found = (Array.isArray(json.locals) ? json.locals : []).find((l): l is Body => isObject(l) && name in l);
    if (found) return found[name];
  }
  return undefined;
}

function call(i: Infra, name: string): Body | undefined {
  return i.calls.find((c) => c.module === '' && c.name === name)?.body;
}
function res(i: Infra, module: string, type: string, name: string): Body | undefined {
  return i.resources.find((r) => r.module === module && r.type === type && r.name === name)?.body;
}

export function checkWiring(infra: Infra): string[] {
  return WIRING.flatMap((w) => {
    const found = w.find(infra);
    return found === w.expect ? [] : [`${w.what}: expected ${w.expect}, found ${found === undefined ? 'nothing' : JSON.stringify(found)}`];
  });
}
