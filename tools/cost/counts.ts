import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** What one function process counted (tools/cost/meter.ts writes it, tools/cost/run.ts reads it). */
export interface MeterFile {
  readonly function: string;
  readonly pid: number;
  /** User + system CPU time of the whole process so far, µs. */
  cpuUs: number;
  readonly firestore: {
    reads: number;
    /** Gets of documents that do not exist. */
    missingReads: number;
    /** Queries that returned no document (billed as one read each). */
    emptyQueries: number;
    writes: number;
    deletes: number;
    commits: number;
  };
  /** By topic (without the project): each Publish request, as the sizes of its messages (data + attributes, bytes). */
  readonly publish: Record<string, { requests: number[][] }>;
}

/** Every meter file in `dir` (one per function process: tools/cost/meter.ts). */
export function readMeters(dir: string): MeterFile[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as MeterFile);
}
