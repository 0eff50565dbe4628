import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadInfra, type Infra } from '../../tools/infra/check';
import type { ProviderSchemaFile } from '../../tools/infra/extract-provider-schema';
export { evaluateTopology, terraform, type TfSubscription, type TopologyOutputs } from '../../tools/infra/evaluate';

export const ROOT = resolve(__dirname, '..', '..');
export const INFRA = join(ROOT, 'infra');
export const MANIFEST = join(ROOT, 'shared', 'topology.json');

export function providerSchema(): ProviderSchemaFile {
  return JSON.parse(readFileSync(join(INFRA, 'provider-schema.json'), 'utf8')) as ProviderSchemaFile;
}

/**
 * A copy of infra/ with one file's text changed, parsed: the checks must fail on it. `edit`
 * receives the file's text and must change it (a no-op edit would test nothing).
 */
export async function mutatedInfra(file: string, edit: (text: string) => string): Promise<Infra> {
  const dir = mkdtempSync(join(tmpdir(), 'infra-mutant-'));
  cpSync(INFRA, dir, { recursive: true, filter: (src) => !/[/\\]\.(terraform|build)([/\\]|$)/.test(src) });
  const path = join(dir, file);
  const before = readFileSync(path, 'utf8');
  const after = edit(before);
  if (after === before) throw new Error(`the mutation of ${file} changed nothing`);
  writeFileSync(path, after);
  return loadInfra(dir);
}

