/**
 * The functions' source archive (infra/main.tf, data "archive_file" "source") holds what the
 * Cloud Functions build compiles and nothing else: every tracked top-level entry of the
 * repository is either part of that build or excluded by name, so a new folder cannot slip into
 * (or silently out of) the deployed source.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadInfra } from '../../tools/infra/check';
import { INFRA, ROOT } from '../support/infra';

/** What the build needs (npm ci's `prepare`: tsc -p tsconfig.build.json; gcp-build then checks its output), and the package files. */
const DEPLOYED = ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'functions', 'shared', 'cli'];

describe('the functions source archive', () => {
  it('holds the build and excludes everything else the repository tracks', async () => {
    const infra = await loadInfra(INFRA);
    const archive = infra.resources.find((r) => r.kind === 'data' && r.type === 'archive_file' && r.name === 'source');
    expect(archive?.body.source_dir).toBe('${path.module}/..');
    const excludes = archive?.body.excludes as string[];
    const tracked = [...new Set(execFileSync('git', ['ls-files'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean).map((p) => p.split('/')[0]!))];
    const unclassified = tracked.filter((e) => !DEPLOYED.includes(e) && !excludes.includes(e));
    expect(unclassified).toEqual([]);
    expect(DEPLOYED.filter((e) => excludes.includes(e))).toEqual([]);
    // What the build compiles is deployed, or left out of the archive without anything deployed
    // reaching for it: tools/ is compiled for the local stack and the bench, and the archive's
    // build (test/integration/deploy-rehearsal.test.ts) compiles without it, because nothing under
    // functions/, shared/ or cli/ imports it (test/unit/architecture.test.ts).
    const build = JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] };
    const compiled = build.include.filter((d) => !d.includes('/'));
    const undeployed = compiled.filter((d) => !DEPLOYED.includes(d));
    expect(undeployed.filter((d) => !excludes.includes(d))).toEqual([]);
    const grep = spawnSync('git', ['grep', '-lE', `(from|import|require\\() *\\(?'(\\.\\./)+(${undeployed.join('|') || '$^'})/`, '--', ...DEPLOYED.filter((d) => !d.includes('.'))], { cwd: ROOT, encoding: 'utf8' });
    expect(grep.status).toBe(1); // git grep: 1 when nothing matched
    expect(grep.stdout).toBe('');
    // Ignored outputs (node_modules, dist, ...) never go up either.
    for (const ignored of ['node_modules', 'dist', 'coverage', 'replay-out', '.bench']) expect(excludes).toContain(ignored);
  });

  it('is kept while the state names it: no lifecycle rule deletes it behind Terraform', async () => {
    const infra = await loadInfra(INFRA);
    const bucket = infra.resources.find((r) => r.type === 'google_storage_bucket' && r.name === 'source');
    expect(bucket).toBeDefined();
    expect(bucket?.body.lifecycle_rule).toBeUndefined();
  });

  it('is named by its content hash', async () => {
    const infra = await loadInfra(INFRA);
    const object = infra.resources.find((r) => r.type === 'google_storage_bucket_object' && r.name === 'source');
    expect(object?.body.name).toBe('functions-${data.archive_file.source.output_md5}.zip');
    const fn = infra.resources.find((r) => r.type === 'google_cloudfunctions2_function');
    expect(JSON.stringify(fn?.body.build_config)).toContain('"object":"${var.source_object}"');
    expect(infra.calls.find((c) => c.name === 'function')?.body.source_object).toBe('${google_storage_bucket_object.source.name}');
  });
});
