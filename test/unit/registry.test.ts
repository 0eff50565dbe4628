import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { REGISTRY } from '../../functions/registry';
import { topology } from '../../shared/topology';

describe('the function registry', () => {
  const manifest = new Set(topology.functions.map((f) => f.name));

  it.each(Object.keys(REGISTRY))('registers %s under a manifest name that is also its folder', (name) => {
    expect(manifest.has(name)).toBe(true);
    expect(existsSync(join(__dirname, '..', '..', 'functions', name, 'core.ts'))).toBe(true);
  });

  it('registers every manifest function that has a folder', () => {
    const built = [...manifest].filter((name) => existsSync(join(__dirname, '..', '..', 'functions', name)));
    expect(Object.keys(REGISTRY).sort()).toEqual(built.sort());
  });
});
