/**
 * The deploy rehearsal (test/integration/deploy-rehearsal.test.ts): what a first `terraform apply`
 * does with the functions' source, done offline. Everything it needs from the Terraform is read
 * from the HCL in infra/ (parsed with @cdktf/hcl2json, as tools/infra/check.ts reads it), never
 * written here a second time:
 * - the source archive: `data "archive_file" "source"` (its source_dir and excludes);
 * - the build: the steps of Google's Node.js buildpack, as its npm buildpack runs them
 *   (https://github.com/GoogleCloudPlatform/buildpacks/blob/main/cmd/nodejs/npm/lib/lib.go):
 *   `npm ci --quiet --no-fund --no-audit` with NODE_ENV=development when a build script exists
 *   (`npm ci` runs `prepare`), then `npm run gcp-build` when package.json defines it, then
 *   `npm prune --production`; a non-zero exit fails the build, and so the apply;
 * - each function's entry point (modules/function `build_config.entry_point`, from the manifest
 *   through module.topology) and the names of its environment and secret variables
 *   (`service_config.environment_variables` and `secret_environment_variables`).
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { blocks, type Infra } from './check';
import { filterMatches as matches } from '../local/filter';
import type { TopologyOutputs } from './evaluate';

type Json = unknown;
type Body = Record<string, Json>;
const isObject = (v: Json): v is Body => typeof v === 'object' && v !== null && !Array.isArray(v);
const first = (v: Json): Body | undefined => (Array.isArray(v) ? v.find(isObject) : isObject(v) ? v : undefined);

/** A rehearsal step that failed, with what it printed last. */
export class RehearsalError extends Error {
  override readonly name = 'RehearsalError';
  constructor(
    readonly step: string,
    message: string,
    readonly output = '',
  ) {
    super(`${step}: ${message}${output ? `\n${output.split('\n').slice(-40).join('\n')}` : ''}`);
  }
}

/** The source archive as infra/main.tf declares it: the folder it zips and what it leaves out. */
export interface ArchiveSpec {
  readonly sourceDir: string;
  readonly excludes: readonly string[];
}

/**
 * Reads `data "archive_file" "source"` of the root module. `source_dir` is resolved against
 * infra/ (`path.module`); the excludes are the archive provider's: paths relative to source_dir
 * (https://registry.terraform.io/providers/hashicorp/archive/latest/docs/data-sources/file).
 * Only literal paths are read: a glob pattern in the HCL stops the rehearsal rather than being
 * guessed at.
 */
export function archiveSpec(infra: Infra): ArchiveSpec {
  const archive = infra.resources.find((r) => r.module === '' && r.kind === 'data' && r.type === 'archive_file' && r.name === 'source');
  if (!archive) throw new RehearsalError('archive', 'infra/ has no data "archive_file" "source"');
  const dir = archive.body.source_dir;
  const m = typeof dir === 'string' ? /^\$\{path\.module\}(\/.*)?$/.exec(dir) : null;
  if (!m) throw new RehearsalError('archive', `source_dir ${JSON.stringify(dir)} is not a path under \${path.module}`);
  const excludes = archive.body.excludes;
  if (!Array.isArray(excludes) || !excludes.every((e): e is string => typeof e === 'string')) {
    throw new RehearsalError('archive', `excludes ${JSON.stringify(excludes)} is not a list of literal paths`);
  }
  const globbed = excludes.filter((e) => /[*?[\]{}]/.test(e) || e.includes('${'));
  if (globbed.length) throw new RehearsalError('archive', `the rehearsal reads literal excludes only, not ${globbed.join(', ')}`);
  return { sourceDir: resolve(infra.dir, `.${m[1] ?? ''}`), excludes };
}

/**
 * The files the archive holds, relative to its source_dir: every file under it (dotfiles too,
 * as the archive provider walks the folder) except the excluded paths and what lies under them.
 */
export function archiveFiles(spec: ArchiveSpec): string[] {
  const excluded = new Set(spec.excludes.map((e) => e.replace(/^\.\//, '').replace(/\/+$/, '')));
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const d of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, d.name);
      const rel = relative(spec.sourceDir, path).split(sep).join('/');
      if (excluded.has(rel)) continue;
      const stat = d.isSymbolicLink() ? lstatSync(path) : undefined;
      if (d.isDirectory() || (stat && existsSync(path) && lstatSync(path).isDirectory())) walk(path);
      else out.push(rel);
    }
  };
  walk(spec.sourceDir);
  return out.sort();
}

/** Copies the archive's files into `to` (an empty folder): what the build unpacks. */
export function unpackArchive(spec: ArchiveSpec, files: readonly string[], to: string): void {
  if (existsSync(to) && readdirSync(to).length > 0) throw new RehearsalError('unpack', `${to} is not empty`);
  for (const f of files) {
    mkdirSync(dirname(join(to, f)), { recursive: true });
    copyFileSync(join(spec.sourceDir, f), join(to, f));
  }
}

/** Runs a command; resolves with its exit code and output (stdout and stderr interleaved). */
export function run(cmd: string, args: readonly string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Promise<{ code: number; output: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (output += c.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code, signal) => resolvePromise({ code: code ?? (signal ? 128 : 1), output }));
  });
}

export interface BuildStep {
  readonly name: string;
  readonly ms: number;
}

/**
 * The buildpack's steps in `dir`. `npmFlags` are added to `npm ci` only (the tests pass
 * `--offline`: the packages come from the npm cache the repository's own install filled, so the
 * rehearsal needs no network and fetches nothing twice).
 */
export async function buildpack(dir: string, options: { npmFlags?: readonly string[]; env?: NodeJS.ProcessEnv } = {}): Promise<BuildStep[]> {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
  const gcpBuild = pkg.scripts?.['gcp-build'];
  const base = { ...(options.env ?? process.env) };
  delete base.NODE_ENV;
  const steps: Array<{ name: string; args: string[]; env: NodeJS.ProcessEnv }> = [
    // With a build script the buildpack installs devDependencies too (NODE_ENV=development).
    { name: 'npm ci', args: ['ci', '--quiet', '--no-fund', '--no-audit', ...(options.npmFlags ?? [])], env: { ...base, NODE_ENV: gcpBuild ? 'development' : 'production' } },
    ...(gcpBuild ? [{ name: 'npm run gcp-build', args: ['run', 'gcp-build'], env: base }] : []),
    ...(gcpBuild ? [{ name: 'npm prune --production', args: ['prune', '--production'], env: { ...base, NODE_ENV: 'production' } }] : []),
  ];
  const done: BuildStep[] = [];
  for (const step of steps) {
    const t0 = Date.now();
    const { code, output } = await run('npm', step.args, { cwd: dir, env: step.env });
    if (code !== 0) throw new RehearsalError(step.name, `exit ${code} (the buildpack fails the build, and terraform apply with it)`, output);
    done.push({ name: step.name, ms: Date.now() - t0 });
  }
  return done;
}

/** What one function of the manifest is deployed with, read from the HCL. */
export interface DeployedFunction {
  /** The manifest name (module.function's key). */
  readonly name: string;
  /** build_config.entry_point: the Functions Framework target. */
  readonly entryPoint: string;
  /** The names of service_config.environment_variables. */
  readonly environment: readonly string[];
  /** The names of service_config.secret_environment_variables (each `key`). */
  readonly secrets: readonly string[];
}

/**
 * For every function module.topology yields, its entry point and the variable names Terraform
 * gives it. `topology` is module.topology evaluated by real Terraform (evaluateTopology); the
 * rest is read from the HCL: the function module's `environment_variables` expression, the root
 * module's `environment` argument and the module outputs it names. An expression of a shape this
 * reader does not know stops the rehearsal, naming it.
 */
export function deployedFunctions(infra: Infra, topology: TopologyOutputs): DeployedFunction[] {
  const call = infra.calls.find((c) => c.module === '' && c.name === 'function');
  if (!call) throw new RehearsalError('terraform', 'infra/main.tf has no module "function"');
  const moduleDir = moduleFolder(infra, call.body.source);
  const fn = infra.resources.find((r) => r.module === moduleDir && r.type === 'google_cloudfunctions2_function');
  if (!fn) throw new RehearsalError('terraform', `infra/${moduleDir} has no google_cloudfunctions2_function`);
  const build = blocks(fn.body, 'build_config')[0];
  const service = blocks(fn.body, 'service_config')[0];
  if (!build || !service) throw new RehearsalError('terraform', 'the function has no build_config or service_config');
  if (build.entry_point !== '${var.spec.entry_point}') throw new RehearsalError('terraform', `entry_point is ${JSON.stringify(build.entry_point)}, not var.spec.entry_point`);
  const secretBlocks = isObject(service.dynamic) ? (Array.isArray(service.dynamic.secret_environment_variables) ? service.dynamic.secret_environment_variables : []) : [];
  const secretBlock = first(secretBlocks);
  if (blocks(service, 'secret_environment_variables').length !== secretBlocks.length) {
    throw new RehearsalError('terraform', 'secret_environment_variables written as static blocks: the rehearsal reads the dynamic block over var.spec.secrets');
  }
  if (secretBlock && (secretBlock.for_each !== '${var.spec.secrets}' || first(secretBlock.content)?.key !== '${secret_environment_variables.key}')) {
    throw new RehearsalError('terraform', `secret_environment_variables is not keyed by var.spec.secrets: ${JSON.stringify(secretBlock)}`);
  }
  return Object.entries(topology.functions).map(([name, spec]) => {
    const scope: Scope = { infra, moduleDir, call: call.body, key: name, spec };
    return {
      name,
      entryPoint: spec.entry_point,
      environment: [...keysOf(service.environment_variables, scope, 'function')].sort(),
      secrets: secretBlock ? Object.keys(spec.secrets).sort() : [],
    };
  });
}

interface Scope {
  readonly infra: Infra;
  readonly moduleDir: string;
  readonly call: Body;
  /** each.key of the module call: the manifest function name. */
  readonly key: string;
  /** each.value of the module call: the function as module.topology yields it. */
  readonly spec: TopologyOutputs['functions'][string];
}

function moduleFolder(infra: Infra, source: Json): string {
  if (typeof source !== 'string' || !source.startsWith('./')) throw new RehearsalError('terraform', `module source ${JSON.stringify(source)} is not a local folder`);
  return source.slice(2).replace(/\/+$/, '');
}

/** The indices of `text`'s characters outside quoted strings and brackets. */
function* topLevel(text: string): Generator<number> {
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '"' && text[i - 1] !== '\\') quoted = !quoted;
    if (quoted) continue;
    if ('([{'.includes(ch)) depth++;
    else if (')]}'.includes(ch)) depth--;
    else if (depth === 0) yield i;
  }
}

/** Splits `c ? a : b` at its top-level `?` and `:`; undefined when the expression is no conditional. */
function splitConditional(text: string): [string, string, string] | undefined {
  let question = -1;
  for (const i of topLevel(text)) {
    if (text[i] === '?' && question < 0) question = i;
    else if (text[i] === ':' && question >= 0) return [text.slice(0, question).trim(), text.slice(question + 1, i).trim(), text.slice(i + 1).trim()];
  }
  return undefined;
}

/** Splits `a, b(c, d), { e = f }` at its top-level commas. */
function splitArgs(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  for (const i of topLevel(text)) {
    if (text[i] !== ',') continue;
    out.push(text.slice(start, i).trim());
    start = i + 1;
  }
  const last = text.slice(start).trim();
  if (last) out.push(last);
  return out;
}

const unwrap = (v: string) => {
  const m = /^\$\{([\s\S]*)\}$/.exec(v.trim());
  return m ? m[1]!.trim() : undefined;
};

/**
 * The keys of a map-valued expression, in the function module (`where: 'function'`) or the root
 * module (`where: 'root'`): merge(...), try(X, {}), an object literal, var.environment,
 * var.function_settings[each.key].environment (its default), local.NAME[each.key], local.NAME,
 * module.NAME.OUTPUT, and `length(each.value.LIST) > 0 ? A : B` (the function's manifest entry
 * decides, e.g. the state store's environment for a function that lists Bigtable tables).
 */
function keysOf(value: Json, scope: Scope, where: 'function' | 'root' | 'output'): Set<string> {
  if (isObject(value)) return new Set(Object.keys(value));
  if (typeof value !== 'string') throw new RehearsalError('terraform', `cannot read the keys of ${JSON.stringify(value)}`);
  const expr = unwrap(value) ?? value.trim();
  return keysOfExpr(expr, scope, where);
}

function keysOfExpr(expr: string, scope: Scope, where: 'function' | 'root' | 'output'): Set<string> {
  const conditional = splitConditional(expr);
  if (conditional) {
    const [cond, whenTrue, whenFalse] = conditional;
    const listed = /^length\(each\.value\.([a-z_]+)\)\s*>\s*0$/.exec(cond);
    const list = listed && where === 'root' ? (scope.spec as unknown as Record<string, unknown>)[listed[1]!] : undefined;
    if (!Array.isArray(list)) throw new RehearsalError('terraform', `the rehearsal reads conditionals on length(each.value.LIST) > 0 only (a list of the function's topology entry): ${expr}`);
    return keysOfExpr(list.length > 0 ? whenTrue : whenFalse, scope, where);
  }
  const call = /^(merge|try)\(([\s\S]*)\)$/.exec(expr);
  if (call) {
    const args = splitArgs(call[2]!);
    if (call[1] === 'try') {
      // try(X, {}): X's keys when X exists; the fallback must be the empty map.
      if (args.length !== 2 || args[1]!.replace(/\s/g, '') !== '{}') throw new RehearsalError('terraform', `try(...) with a fallback other than {}: ${expr}`);
      return keysOfExpr(args[0]!, scope, where);
    }
    return new Set(args.flatMap((a) => [...keysOfExpr(a, scope, where)]));
  }
  if (expr.startsWith('{')) {
    const body = expr.replace(/^\{|\}$/g, '');
    return new Set(
      splitArgs(body.replace(/\n/g, ','))
        .filter(Boolean)
        .map((entry) => {
          const m = /^"?([A-Za-z_][A-Za-z0-9_]*)"?\s*=/.exec(entry);
          if (!m) throw new RehearsalError('terraform', `cannot read the key of ${JSON.stringify(entry)} in ${expr}`);
          return m[1]!;
        }),
    );
  }
  if (where === 'function' && expr === 'var.environment') return keysOf(scope.call.environment, scope, 'root');
  if (where === 'root') {
    const setting = /^var\.([a-z_]+)\[each\.key\]\.([a-z_]+)$/.exec(expr);
    if (setting) return defaultKeys(scope, setting[1]!, setting[2]!);
    const local = /^local\.([a-z_]+)\[each\.key\]$/.exec(expr);
    if (local) return localKeys(scope, local[1]!);
    const whole = /^local\.([a-z_]+)$/.exec(expr);
    if (whole) return localKeys(scope, whole[1]!, false);
  }
  const output = /^module\.([a-z_]+)\.([a-z_]+)$/.exec(expr);
  if (output && where !== 'function') return outputKeys(scope, output[1]!, output[2]!);
  throw new RehearsalError('terraform', `the rehearsal cannot read the environment names of ${JSON.stringify(expr)} (${where} module)`);
}

/** var.NAME's default, per manifest key: the `field` map of the entry for this function, if any. */
function defaultKeys(scope: Scope, variable: string, field: string): Set<string> {
  for (const [file, json] of scope.infra.files) {
    if (file.includes('/')) continue;
    const v = first(isObject(json.variable) ? json.variable[variable] : undefined);
    if (!v) continue;
    const entry = isObject(v.default) ? first(v.default[scope.key]) : undefined;
    return entry ? keysOf(entry[field] ?? {}, scope, 'root') : new Set();
  }
  throw new RehearsalError('terraform', `no variable "${variable}" in infra/`);
}

/** The keys of local.NAME[each.key] (`perFunction`), or of local.NAME itself: a map literal either way. */
function localKeys(scope: Scope, name: string, perFunction = true): Set<string> {
  for (const [file, json] of scope.infra.files) {
    if (file.includes('/')) continue;
    const locals = Array.isArray(json.locals) ? json.locals.filter(isObject) : [];
    const found = locals.find((l) => name in l);
    if (!found) continue;
    const map = found[name];
    if (!isObject(map)) throw new RehearsalError('terraform', `local.${name} is not a map literal`);
    if (!perFunction) return new Set(Object.keys(map));
    const entry = map[scope.key];
    return entry === undefined ? new Set() : keysOf(entry, scope, 'output');
  }
  throw new RehearsalError('terraform', `no local "${name}" in infra/`);
}

function outputKeys(scope: Scope, moduleName: string, output: string): Set<string> {
  const call = scope.infra.calls.find((c) => c.module === '' && c.name === moduleName);
  if (!call) throw new RehearsalError('terraform', `no module "${moduleName}" in infra/`);
  const dir = moduleFolder(scope.infra, call.body.source);
  for (const [file, json] of scope.infra.files) {
    if (!file.startsWith(`${dir}/`) || file.slice(dir.length + 1).includes('/')) continue;
    const o = first(isObject(json.output) ? json.output[output] : undefined);
    if (o) return keysOf(o.value, scope, 'output');
  }
  throw new RehearsalError('terraform', `module.${moduleName} has no output "${output}"`);
}

/** A push subscription's filter, as Pub/Sub applies it (tools/local/filter.ts). */
export function filterMatches(filter: string | null | undefined, attributes: Readonly<Record<string, string>>): boolean {
  try {
    return matches(filter, attributes);
  } catch (err) {
    throw new RehearsalError('filter', `the rehearsal ${(err as Error).message}`);
  }
}
