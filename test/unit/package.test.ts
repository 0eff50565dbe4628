import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../..');

/** Every file of this package that `entry` loads, following relative requires of the build. */
function closure(entry: string, seen = new Set<string>()): Set<string> {
  if (seen.has(entry)) return seen;
  seen.add(entry);
  if (!entry.endsWith('.js')) return seen;
  const text = readFileSync(join(ROOT, entry), 'utf8');
  for (const m of text.matchAll(/require\("(\.{1,2}\/[^"]+)"\)/g)) {
    const base = join(dirname(entry), m[1]!);
    const file = [base, `${base}.js`, join(base, 'index.js')].find((f) => existsSync(join(ROOT, f)) && statSync(join(ROOT, f)).isFile());
    if (!file) throw new Error(`${entry} requires ${m[1]}, which is not built`);
    closure(relative(ROOT, join(ROOT, file)), seen);
  }
  return seen;
}

describe('the package', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { main: string; bin: Record<string, string>; files: string[] };
  const packed = new Set(
    (JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' })) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path),
  );

  it('packs everything the command and the functions load', () => {
    const needed = [...closure(pkg.main), ...Object.values(pkg.bin).flatMap((b) => [...closure(b)])];
    expect(needed.filter((f) => !packed.has(f))).toEqual([]);
    expect(needed.length).toBeGreaterThan(30);
  });

  it('packs no tests, no sources, no source maps', () => {
    expect([...packed].filter((f) => /(^|\/)test\/|\.test\.|\.ts$|\.map$|^\.ci\//.test(f) && !f.endsWith('.d.ts'))).toEqual([]);
  });
});
