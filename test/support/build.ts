import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

/** Builds dist/ when a source is newer than what it compiled to (jest itself runs the sources). */
export function ensureBuilt(): void {
  const staleFile = (path: string) => {
    const out = join(ROOT, 'dist', path.replace(/\.ts$/, '.js'));
    // tsc copies a JSON file only when code imports it; one read at run time (tools/cost/prices.json)
    // never has a copy in dist, and counting it missing rebuilt dist in every test that asked,
    // while other tests were reading dist (npm pack in package.test.ts failed on a half-written file).
    if (!existsSync(out)) return path.endsWith('.ts');
    return statSync(out).mtimeMs < statSync(join(ROOT, path)).mtimeMs;
  };
  const stale = (dir: string): boolean =>
    readdirSync(join(ROOT, dir), { withFileTypes: true }).some((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return stale(path);
      return /\.(ts|json)$/.test(entry.name) && !entry.name.endsWith('.d.ts') && staleFile(path);
    });
  if (!['functions', 'shared', 'tools', 'cli'].some(stale)) return;
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
}

