import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import * as ts from 'typescript';

/**
 * Imports point one way (STYLE.md): cores → pure shared modules; functions never import one
 * another; the shared library never imports a function, the CLI or the tooling; the embedded
 * replay uses a function's pure core, never its shell; and nothing imports in a circle. The
 * rules are checked on the real import graph of the sources, and each rule is shown to catch a
 * violation on a made-up graph, so a rule that can no longer fail would be noticed.
 */

const ROOT = resolve(__dirname, '..', '..');
const SOURCE_DIRS = ['functions', 'shared', 'cli', 'tools'];

/** Shared modules a core may reach: schemas, rules of the contract, port types; no client, no manifest. */
const PURE_SHARED = [/^shared\/events\//, /^shared\/findings\.ts$/, /^shared\/outcome\.ts$/, /^shared\/ids\.ts$/, /^shared\/corrections\.ts$/, /^shared\/ports\//, /^shared\/volume\//, /^shared\/dead-letters\.ts$/, /^shared\/failures\.ts$/, /^shared\/mask\.ts$/, /^shared\/attributes\.ts$/];
/** Packages a core may use: the schema library, hashing, the phone-number parser (bundled metadata, no I/O) and a JSON scanner (duplicate keys: no I/O). */
const PURE_PACKAGES = new Set(['zod', 'node:crypto', 'libphonenumber-js', 'jsonc-parser']);

export type Graph = ReadonlyMap<string, { readonly files: readonly string[]; readonly packages: readonly string[] }>;

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

function resolveImport(from: string, specifier: string): string | undefined {
  const base = join(dirname(from), specifier);
  for (const candidate of [`${base}.ts`, join(base, 'index.ts'), base]) {
    if (existsSync(join(ROOT, candidate)) && statSync(join(ROOT, candidate)).isFile()) return candidate;
  }
  return undefined;
}

/** The import graph of the sources: relative imports resolved to files, the rest as package names. */
function importGraph(): Graph {
  const graph = new Map<string, { files: string[]; packages: string[] }>();
  for (const file of SOURCE_DIRS.flatMap(sourceFiles)) {
    const { importedFiles } = ts.preProcessFile(readFileSync(join(ROOT, file), 'utf8'), true, true);
    const node = { files: [] as string[], packages: [] as string[] };
    for (const { fileName } of importedFiles) {
      if (fileName.startsWith('.')) {
        const target = resolveImport(file, fileName);
        if (!target) throw new Error(`${file}: cannot resolve ${fileName}`);
        node.files.push(relative(ROOT, join(ROOT, target)));
      } else {
        node.packages.push(fileName.startsWith('@') ? fileName.split('/').slice(0, 2).join('/') : fileName.split('/')[0]!);
      }
    }
    graph.set(file, node);
  }
  return graph;
}

const functionOf = (file: string) => /^functions\/([^/]+)\//.exec(file)?.[1];
const isCore = (file: string) => /^functions\/[^/]+\/core(\.ts$|\/|-)/.test(file);

/** Every file a start file reaches, itself included. */
function closure(graph: Graph, start: string): Set<string> {
  const seen = new Set<string>([start]);
  const stack = [start];
  while (stack.length > 0) {
    for (const next of graph.get(stack.pop()!)?.files ?? []) {
      if (!seen.has(next)) {
        seen.add(next);
        stack.push(next);
      }
    }
  }
  return seen;
}

/** The import cycles: strongly connected components of more than one file (Tarjan). */
function cycles(graph: Graph): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (v: string) => {
    indices.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v)?.files ?? []) {
      if (!indices.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, indices.get(w)!));
      }
    }
    if (low.get(v) === indices.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || graph.get(v)?.files.includes(v)) found.push(component.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!indices.has(v)) visit(v);
  return found;
}

/** Every import that breaks a rule, as `from -> to: rule`. */
export function violations(graph: Graph): string[] {
  const out: string[] = [];
  const pureCoreFiles = new Set<string>();
  for (const file of graph.keys()) if (isCore(file)) for (const f of closure(graph, file)) pureCoreFiles.add(f);

  for (const [from, { files }] of graph) {
    const fromFunction = functionOf(from);
    for (const to of files) {
      const toFunction = functionOf(to);
      if (fromFunction && toFunction && fromFunction !== toFunction) out.push(`${from} -> ${to}: functions never import one another`);
      if (/^(functions|shared)\//.test(from) && /^cli\//.test(to)) out.push(`${from} -> ${to}: the product (functions, shared library) never imports the CLI`);
      // The deployed source archive leaves tools/ out: an import of it fails the build of every function.
      if (/^(functions|shared|cli)\//.test(from) && /^tools\//.test(to)) out.push(`${from} -> ${to}: the product never imports the tooling`);
      if (from.startsWith('shared/') && to.startsWith('functions/')) out.push(`${from} -> ${to}: the shared library never imports a function`);
      if (from.startsWith('cli/') && to.startsWith('functions/') && !pureCoreFiles.has(to)) {
        out.push(`${from} -> ${to}: the embedded replay uses a function's pure core, not its shell`);
      }
    }
    if (isCore(from)) {
      for (const reached of closure(graph, from)) {
        const inOwnFunction = functionOf(reached) === fromFunction;
        if (!inOwnFunction && !PURE_SHARED.some((p) => p.test(reached))) out.push(`${from} -> ${reached}: a core reaches only pure shared modules`);
        for (const p of graph.get(reached)?.packages ?? []) {
          if (!PURE_PACKAGES.has(p)) out.push(`${from} -> ${p} (through ${reached}): a core uses no client, I/O or framework package`);
        }
      }
    }
  }
  for (const cycle of cycles(graph)) out.push(`${cycle.join(' <-> ')}: an import cycle`);
  return [...new Set(out)].sort();
}

describe('imports point one way', () => {
  const graph = importGraph();

  it('reads the whole source tree', () => {
    expect(graph.size).toBeGreaterThan(50);
    expect([...graph.keys()].filter(isCore).length).toBeGreaterThanOrEqual(5);
  });

  it('has no wrong-direction import and no cycle', () => {
    expect(violations(graph)).toEqual([]);
  });

  const made = (edges: Record<string, string[]>, packages: Record<string, string[]> = {}): Graph =>
    new Map(Object.entries(edges).map(([f, to]) => [f, { files: to, packages: packages[f] ?? [] }]));

  it.each([
    ['a function importing another', made({ 'functions/a/handler.ts': ['functions/b/core.ts'], 'functions/b/core.ts': [] }), 'functions never import one another'],
    ['the library importing the CLI', made({ 'shared/x.ts': ['cli/replay/stage.ts'], 'cli/replay/stage.ts': [] }), 'never imports the CLI'],
    ['the CLI importing the tooling', made({ 'cli/commands/generate.ts': ['tools/bench/x.ts'], 'tools/bench/x.ts': [] }), 'the product never imports the tooling'],
    ['a function importing the tooling', made({ 'functions/a/handler.ts': ['tools/local/x.ts'], 'tools/local/x.ts': [] }), 'the product never imports the tooling'],
    ['the library importing a function', made({ 'shared/x.ts': ['functions/a/core.ts'], 'functions/a/core.ts': [] }), 'never imports a function'],
    ['replay reaching into a shell', made({ 'cli/replay/engine.ts': ['functions/a/state.ts'], 'functions/a/state.ts': [], 'functions/a/core.ts': [] }), 'pure core, not its shell'],
    [
      'a core reaching the manifest through the library',
      made({ 'functions/a/core.ts': ['shared/corrections.ts'], 'shared/corrections.ts': ['shared/publish.ts'], 'shared/publish.ts': ['shared/topology.ts'], 'shared/topology.ts': [] }),
      'only pure shared modules',
    ],
    ['a core using a client', made({ 'functions/a/core.ts': ['shared/events/x.ts'], 'shared/events/x.ts': [] }, { 'shared/events/x.ts': ['@google-cloud/pubsub'] }), 'uses no client'],
    ['a cycle', made({ 'cli/replay/stages.ts': ['cli/replay/x.ts'], 'cli/replay/x.ts': ['cli/replay/stages.ts'] }), 'an import cycle'],
  ])('catches %s', (_, g, rule) => {
    expect(violations(g).some((v) => v.includes(rule))).toBe(true);
  });
});
