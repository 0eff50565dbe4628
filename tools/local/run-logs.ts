import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Each run of the stack keeps its functions' logs in a folder of its own under the temp dir. */
export const LOG_PREFIX = 'event-recovery-';
const RUNS_KEPT = 5;

/** Keeps the logs of the last few runs (a running dev stack writes to its own, so it is among them). */
export function pruneOldRuns(current: string): void {
  const dir = tmpdir();
  const runs = readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && d.name.startsWith(LOG_PREFIX) && join(dir, d.name) !== current)
    .map((d) => {
      const path = join(dir, d.name);
      try {
        return { path, mtimeMs: statSync(path).mtimeMs, ours: existsSync(join(path, 'logs')) };
      } catch {
        return { path, mtimeMs: 0, ours: false };
      }
    })
    .filter((r) => r.ours)
    .sort((a, b) => b.mtimeMs - a.mtimeMs);
  for (const old of runs.slice(RUNS_KEPT - 1)) rmSync(old.path, { recursive: true, force: true });
}
