#!/usr/bin/env node
/**
 * Extracts, from the npm package `@cdktf/provider-google` (generated from one exact version of the
 * hashicorp/google provider's schema), what the offline Terraform check needs: the name of every
 * resource and data source type, and for each type `infra/` uses, its attribute and block names,
 * nested blocks included, and the attributes references may read. The google provider itself cannot be downloaded where the tests run,
 * so `terraform validate` cannot; this file lets a unit test hold the HCL against that schema.
 *
 * The package is 307 MB unpacked and is not a dependency. To regenerate
 * `infra/provider-schema.json` (after a provider upgrade, or when infra/ starts using a new type):
 *
 *   npm run build
 *   mkdir -p /tmp/provider-google && cd /tmp/provider-google && npm pack @cdktf/provider-google@16.12.1 && tar xzf cdktf-provider-google-16.12.1.tgz
 *   cd - && node dist/tools/infra/extract-provider-schema.js /tmp/provider-google/package
 *
 * Each `lib/<type>/index.js` names its `tfResourceType` and lists every argument in snake_case
 * in `synthesizeHclAttributes()` (the resource) and in one `<struct>ToHclTerraform` function per
 * nested block, each entry marked `isBlock`. Only configurable arguments appear there, which is
 * exactly what HCL may write. What expressions may read (computed attributes too, e.g. a
 * function's `service_config[0].uri`) comes from the generated classes' attribute getters.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './evaluate';

/** The attribute and block names of one resource type or nested block. */
export interface BlockSchema {
  attributes: string[];
  blocks: Record<string, BlockSchema>;
}

/** What an expression may read of a resource: attribute name → null (a value) or the nested block's readable names. */
export interface ReadableTree {
  [name: string]: ReadableTree | null;
}

export interface ProviderSchemaFile {
  $comment: string;
  provider: string;
  /** Every type the provider has, by kind: a type missing here does not exist in this version. */
  types: { resource: string[]; data: string[] };
  /** `resource.<type>` or `data.<type>` → its arguments, for the types infra/ uses. */
  schemas: Record<string, BlockSchema>;
  /** `resource.<type>` or `data.<type>` → what references may read (arguments and computed attributes). */
  readable: Record<string, ReadableTree>;
}

/**
 * The readable attributes of the resource class: each generated class reads its attributes with
 * `this.get…Attribute('name')` and makes nested blocks with `new <Class>(this, "name")`; a list
 * class's `get(index)` makes its element class.
 */
function parseReadable(source: string): ReadableTree {
  const heads = [...source.matchAll(/^class (\w+) extends cdktf\.(\w+) \{/gm)];
  const classes = new Map<string, { base: string; body: string }>();
  heads.forEach((h, i) => classes.set(h[1]!, { base: h[2]!, body: source.slice(h.index, heads[i + 1]?.index ?? source.length) }));
  const top = heads.find((h) => h[2] === 'TerraformResource' || h[2] === 'TerraformDataSource')?.[1];
  const resolve = (name: string, seen: Set<string>): ReadableTree => {
    const c = classes.get(name);
    if (!c || seen.has(name)) return {};
    const element = /get\(index\) \{\s+return new (\w+)\(/.exec(c.body)?.[1];
    if (c.base.endsWith('List') || c.base.endsWith('Map')) return element ? resolve(element, new Set([...seen, name])) : {};
    const tree: ReadableTree = {};
    for (const m of c.body.matchAll(/this\.get\w*Attribute\('(\w+)'\)/g)) tree[m[1]!] = null;
    for (const m of c.body.matchAll(/new cdktf\.\w+Map\(this, "(\w+)"\)/g)) tree[m[1]!] = null;
    for (const m of c.body.matchAll(/new (\w+)\(this, "(\w+)"/g)) if (classes.has(m[1]!)) tree[m[2]!] = resolve(m[1]!, new Set([...seen, name]));
    return tree;
  };
  return top ? resolve(top, new Set()) : {};
}

interface Entry {
  name: string;
  isBlock: boolean;
  /** For a block: the generated function that lists the block's own entries. */
  child?: string;
}

/** The entries of every `const attrs = { ... }` object, keyed by the function that holds it. */
function parseModule(source: string): { type: string; top: Entry[]; fns: Map<string, Entry[]> } | undefined {
  const type = /\.tfResourceType = "([a-z0-9_]+)";/.exec(source)?.[1];
  if (!type) return undefined;
  const fns = new Map<string, Entry[]>();
  let top: Entry[] | undefined;
  const holder = /(?:^function (\w+)ToHclTerraform\(struct\) \{|^ {4}synthesizeHclAttributes\(\) \{)/gm;
  const starts: Array<{ name: string | undefined; index: number }> = [];
  for (let m = holder.exec(source); m; m = holder.exec(source)) starts.push({ name: m[1], index: m.index });
  starts.forEach((start, i) => {
    const body = source.slice(start.index, starts[i + 1]?.index ?? source.length);
    const attrsAt = body.indexOf('const attrs = {');
    const entries: Entry[] = [];
    if (attrsAt >= 0) {
      const entry = /^ {8,12}(\w+): \{\n\s+value: (.*),\n\s+isBlock: (true|false),/gm;
      for (let m = entry.exec(body.slice(attrsAt)); m; m = entry.exec(body.slice(attrsAt))) {
        const child = m[3] === 'true' ? /(?:^|[(\s])(\w+)ToHclTerraform\b/.exec(m[2]!.replace(/cdktf\.\w+/g, ''))?.[1] : undefined;
        entries.push({ name: m[1]!, isBlock: m[3] === 'true', ...(child ? { child } : {}) });
      }
    }
    if (start.name === undefined) top = entries;
    else fns.set(start.name, entries);
  });
  return top ? { type, top, fns } : undefined;
}

function build(entries: Entry[], fns: Map<string, Entry[]>, path: string): BlockSchema {
  const schema: BlockSchema = { attributes: [], blocks: {} };
  for (const e of entries) {
    if (!e.isBlock) {
      schema.attributes.push(e.name);
      continue;
    }
    const child = e.child === undefined ? undefined : fns.get(e.child);
    if (!child) throw new Error(`${path}.${e.name}: the block's entries were not found (generator output changed?)`);
    schema.blocks[e.name] = build(child, fns, `${path}.${e.name}`);
  }
  schema.attributes.sort();
  return schema;
}

/** The `resource "t"` and `data "t"` types a folder of .tf files uses. */
export function typesUsed(infraDir: string): Set<string> {
  const used = new Set<string>();
  const walk = (dir: string) => {
    for (const d of readdirSync(dir, { withFileTypes: true })) {
      if (d.name.startsWith('.')) continue;
      const p = join(dir, d.name);
      if (d.isDirectory()) walk(p);
      else if (d.name.endsWith('.tf')) {
        for (const m of readFileSync(p, 'utf8').matchAll(/^\s*(resource|data)\s+"(google_[a-z0-9_]+)"/gm)) used.add(`${m[1]}.${m[2]}`);
      }
    }
  };
  walk(infraDir);
  return used;
}

export function extract(packageDir: string, used: Set<string>): ProviderSchemaFile {
  const pkg = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { name: string; version: string; cdktf?: { provider?: { version?: string } } };
  const lib = join(packageDir, 'lib');
  const types = { resource: [] as string[], data: [] as string[] };
  const schemas: Record<string, BlockSchema> = {};
  const readable: Record<string, ReadableTree> = {};
  for (const dir of readdirSync(lib).sort()) {
    const file = join(lib, dir, 'index.js');
    if (!existsSync(file)) continue;
    const source = readFileSync(file, 'utf8');
    const parsed = parseModule(source);
    if (!parsed || parsed.type === 'google' /* the provider block itself */) continue;
    const kind = dir.startsWith('data-google-') ? 'data' : 'resource';
    types[kind].push(parsed.type);
    const key = `${kind}.${parsed.type}`;
    if (used.has(key)) {
      schemas[key] = build(parsed.top, parsed.fns, key);
      readable[key] = parseReadable(source);
    }
  }
  const missing = [...used].filter((k) => !schemas[k]);
  if (missing.length > 0) process.stderr.write(`not in the provider (left for the test to report): ${missing.join(', ')}\n`);
  const providerVersion = pkg.cdktf?.provider?.version ?? 'unknown';
  return {
    $comment: `Generated by tools/infra/extract-provider-schema.ts from ${pkg.name}@${pkg.version}; do not edit. See that script for how to regenerate.`,
    provider: `hashicorp/google ${providerVersion}`,
    types: { resource: types.resource.sort(), data: types.data.sort() },
    schemas: Object.fromEntries(Object.entries(schemas).sort(([a], [b]) => a.localeCompare(b))),
    readable: Object.fromEntries(Object.entries(readable).sort(([a], [b]) => a.localeCompare(b))),
  };
}

if (require.main === module) {
  const [packageDir, infraArg, outArg] = process.argv.slice(2);
  if (!packageDir) {
    process.stderr.write('Usage: node dist/tools/infra/extract-provider-schema.js <unpacked @cdktf/provider-google package dir> [infra dir] [out file]\n');
    process.exit(2);
  }
  const infraDir = infraArg ?? join(repoRoot(), 'infra');
  const out = outArg ?? join(infraDir, 'provider-schema.json');
  const schema = extract(packageDir, typesUsed(infraDir));
  writeFileSync(out, `${JSON.stringify(schema, null, 1)}\n`);
  process.stdout.write(`${schema.provider}: ${schema.types.resource.length} resource types, ${schema.types.data.length} data sources; wrote ${Object.keys(schema.schemas).length} schemas to ${out}\n`);
}
