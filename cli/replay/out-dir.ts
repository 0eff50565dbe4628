import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { describeIoError, UsageError } from '../usage';

/**
 * Makes sure `dir` is a folder, creating it and its missing parents one at a time. Not
 * `mkdirSync(dir, { recursive: true })`: on a path under /proc it never returns, and on a path
 * under a file it reports less than it knows. Throws {@link UsageError} with one clear line.
 */
export function prepareOutDir(dir: string): void {
  const missing: string[] = [];
  let at = resolve(dir);
  for (;;) {
    let isDirectory: boolean;
    try {
      isDirectory = statSync(at).isDirectory();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // ENOTDIR: a parent is a file; walking up finds which one.
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new UsageError(`cannot create --out ${dir}: ${describeIoError(err)}`);
      missing.push(at);
      const parent = dirname(at);
      if (parent === at) throw new UsageError(`cannot create --out ${dir}: ${describeIoError(err)}`);
      at = parent;
      continue;
    }
    if (!isDirectory) {
      throw new UsageError(missing.length === 0 ? `--out ${dir} is a file, not a folder` : `cannot create --out ${dir}: ${at} is a file, not a folder`);
    }
    break;
  }
  for (const path of missing.reverse()) {
    try {
      mkdirSync(path);
    } catch (err) {
      // Another process made it meanwhile: fine if it is a folder.
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && statSync(path).isDirectory()) continue;
      throw new UsageError(`cannot create --out ${dir}: ${describeIoError(err)}`);
    }
  }
}
