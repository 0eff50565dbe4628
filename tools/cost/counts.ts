import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * How often a function's meter writes its file (tools/cost/meter.ts). Each write is file system
 * work on the function's own thread: at every 250 ms it was 7 % of gap-detector's CPU in a cost run
 * (renameSync alone 208 ms of 3.5 s), counted as the function's and, below 1 vCPU, billed three times.
 */
export const METER_INTERVAL_MS = 1000;

/** Waits until every meter has written what its process did up to now (a write, and a margin). */
export function afterMeterWrite(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, METER_INTERVAL_MS + 250));
}

/** What one function process counted (tools/cost/meter.ts writes it, tools/cost/run.ts reads it). */
export interface MeterFile {
  readonly function: string;
  readonly pid: number;
  /** User + system CPU time of the process so far, µs, less the meter's own (writing this file). */
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
  /**
   * By document path (below `documents/`, e.g. `dedup-keys/abc`): what committed writes touched
   * it. `peak` is the most writes in one wall-clock second of this process (the unit of
   * Firestore's sustained limit of about one write a second per document).
   */
  readonly documents: Record<string, DocumentCount>;
  /** Bigtable rows the data API served (tools/cost/meter.ts), in all and per table. */
  readonly bigtable: BigtableCounts & { readonly tables: Record<string, BigtableCounts> };
}

/** Rows one process had Bigtable serve. */
export interface BigtableCounts {
  rowsRead: number;
  /** ReadRows calls that returned no row (a lookup of an absent key: node work all the same). */
  emptyReads: number;
  rowsWritten: number;
  rowsDeleted: number;
  /** Row keys, family names, qualifiers and values of the cells written. */
  bytesWritten: number;
  /** The same of the rows alive at the end (the latest version of each cell; rows deleted again left out). */
  storedBytes: number;
}

export function noBigtableRows(): BigtableCounts {
  return { rowsRead: 0, emptyReads: 0, rowsWritten: 0, rowsDeleted: 0, bytesWritten: 0, storedBytes: 0 };
}

export function emptyBigtableCounts(): BigtableCounts & { tables: Record<string, BigtableCounts> } {
  return { ...noBigtableRows(), tables: {} };
}

/** Committed writes (sets, updates, transforms) and deletes of one document, as one process saw them. */
export interface DocumentCount {
  writes: number;
  deletes: number;
  /** Most writes in one wall-clock second. */
  peak: number;
  /** The second (epoch s) the last write fell in, and how many writes it has had so far. */
  second: number;
  inSecond: number;
}

/** Every meter file in `dir` (one per function process: tools/cost/meter.ts). */
export function readMeters(dir: string): MeterFile[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as MeterFile);
}
