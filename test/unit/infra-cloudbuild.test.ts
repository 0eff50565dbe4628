/**
 * cloudbuild.yaml, read as text (no YAML dependency for one file): the steps in the order the
 * issue asks (npm ci, npm test on an image with the Cloud CLI's emulators, terraform init, plan,
 * apply), and nothing project-specific written in it: project, region, environment and the state
 * bucket are substitutions.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../support/infra';

const text = readFileSync(join(ROOT, 'cloudbuild.yaml'), 'utf8');

describe('cloudbuild.yaml', () => {
  it('installs, tests, then plans and applies with Terraform', () => {
    const ids = [...text.matchAll(/^ {2}- id: (\S+)$/gm)].map((m) => m[1]);
    expect(ids).toEqual(['install', 'test', 'plan', 'apply']);
    const step = (id: string) => text.slice(text.indexOf(`- id: ${id}`), ids.indexOf(id) + 1 < ids.length ? text.indexOf(`- id: ${ids[ids.indexOf(id) + 1]}`) : undefined);
    expect(step('install')).toMatch(/args: \[ci\]/);
    expect(step('test')).toMatch(/name: gcr\.io\/google\.com\/cloudsdktool\/google-cloud-cli:emulators/);
    expect(step('test')).toMatch(/\n\s+npm test\n/);
    expect(step('plan')).toMatch(/terraform -chdir=infra init -input=false \\\n\s+-backend-config="bucket=\$\{_STATE_BUCKET\}" \\\n\s+-backend-config="prefix=event-recovery\/\$\{_ENV\}"/);
    expect(step('plan')).toMatch(/plan -input=false -out=tfplan/);
    for (const v of ['project_id=${_PROJECT_ID}', 'region=${_REGION}', 'env=${_ENV}']) expect(step('plan')).toContain(`-var="${v}"`);
    expect(step('apply')).toMatch(/terraform -chdir=infra apply -input=false tfplan/);
  });

  it('takes project, region, environment and state bucket as substitutions', () => {
    for (const s of ['_PROJECT_ID', '_REGION', '_ENV', '_STATE_BUCKET']) expect(text).toMatch(new RegExp(`^ {2}${s}: \\S+`, 'm'));
    expect(text).toMatch(/^ {2}dynamicSubstitutions: true$/m);
    // The backend has no bucket of its own: init names it.
    expect(readFileSync(join(ROOT, 'infra', 'versions.tf'), 'utf8')).toMatch(/backend "gcs" \{\}/);
  });

  it('builds and tests on the Node line the functions run on and package.json declares', () => {
    const runtime = /runtime\s*=\s*"nodejs(\d+)"/.exec(readFileSync(join(ROOT, 'infra', 'modules', 'function', 'main.tf'), 'utf8'))?.[1];
    const engines = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
    expect(runtime).toBeDefined();
    expect(engines).toBe(`>=${runtime}`);
    const images = [...text.matchAll(/name: node:(\d+)/g)].map((m) => m[1]);
    expect(images.length).toBeGreaterThan(0);
    for (const major of images) expect(major).toBe(runtime);
    expect(/_NODE_VERSION: (\d+)\./.exec(text)?.[1]).toBe(runtime);
  });
});
