/**
 * The functions' source archive (infra/main.tf, data "archive_file" "source") holds what the
 * Cloud Functions build compiles and nothing else: every tracked top-level entry of the
 * repository is either part of that build or excluded by name, so a new folder cannot slip into
 * (or silently out of) the deployed source.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadInfra } from '../../tools/infra/check';
import { INFRA, ROOT } from '../support/infra';

/** What `npm run gcp-build` (tsc -p tsconfig.build.json) needs, and the package files. */
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
    // What the build compiles is deployed: tsconfig.build.json's folders, less the tooling.
    const build = JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] };
    for (const dir of build.include.filter((d) => !d.includes('/'))) expect([...DEPLOYED, 'tools']).toContain(dir);
    // Ignored outputs (node_modules, dist, ...) never go up either.
    for (const ignored of ['node_modules', 'dist', 'coverage', 'replay-out', '.bench']) expect(excludes).toContain(ignored);
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
