import type { Row, Table } from '@google-cloud/bigtable';
import { z } from 'zod';
import { digest, parseStored, StoredMarker as Stored, storedMarker } from './stored';
import type { LoggedMarker, MarkerLog, OperationCounts, SequenceMarker } from './store';

/** The column family of the markers table (shared/topology.json: `gap-markers`, family `m`). */
export const MARKER_FAMILY = 'm';
const COLUMN = 'v';

/**
 * Rows a fold reads of one source at most, to pick the earliest arrivals among them. The table
 * holds only markers not folded yet: at 2M events/hour and one fold per source per 10 s
 * (handler.ts, `foldIntervalMs`) that is about 5,600 rows over all sources, a fifth of them the
 * busiest source's. Beyond this bound the fold applies the earliest of the rows it read and
 * leaves the rest for the next (`more`).
 */
export const SOURCE_SCAN_LIMIT = 5_000;
/** Rows the tick's `oldestPendingSource` reads at most (keys and timestamps only, values stripped). */
export const OLDEST_SCAN_LIMIT = 10_000;
/** How long one scan's order of sources serves `oldestPendingSource` (a tick runs once a minute). */
const QUEUE_MS = 10_000;

const Cells = z.array(z.object({ value: z.string(), timestamp: z.string().regex(/^\d+$/) })).min(1);

/**
 * The markers in Bigtable, which bills provisioned nodes by the hour, not operations
 * (https://cloud.google.com/bigtable/pricing). One row per source and number,
 * `<digest(source)>#<digest(seq)>`, so a source's markers are one prefix scan; one cell holding
 * the marker.
 *
 * - `record`: CheckAndMutateRow, "no cell in the row → write it" (`matched` → `repeat`), atomic
 *   on the one row (Bigtable's transactions are single-row: https://cloud.google.com/bigtable/docs/writes).
 * - Arrival order is the cell's timestamp, assigned by the server: a SetCell with
 *   `timestamp_micros` -1 takes "current Bigtable server time"
 *   (https://cloud.google.com/php/docs/reference/cloud-bigtable/latest/V2.Mutation.SetCell; the
 *   Node client passes a given timestamp through, and the emulator assigns it too:
 *   bigtable-markers.test.ts). It is also what a max-age GC policy ages (a cell written with the
 *   default timestamp 0 would be collected at once). Ties at the table's millisecond granularity
 *   are broken by the watermark the delivery saw, then the number. Each marker carries the
 *   watermark its delivery saw, and the fold moves the watermark to it before applying the
 *   number: deliveries that overlap have no order of their own to keep.
 * - A fold reads the source's rows (at most `SOURCE_SCAN_LIMIT`), sorts them by arrival and
 *   applies the earliest; it removes them only after its summary commit in Firestore, so a
 *   crash in between leaves them to be read again (the summary keeps their numbers, and the next
 *   fold skips them: transitions.ts, `foldTransition`).
 * - Expiry: a GC policy by max age (Terraform, from GAP_STATE_RETENTION_HOURS) removes what no
 *   fold did; GC is lazy ("up to a week", https://cloud.google.com/bigtable/docs/garbage-collection),
 *   so nothing here relies on it.
 *
 * `counts`: rows read (a CheckAndMutateRow's check included), written and deleted, for the
 * node sizing (about 14,000 rows written or 17,000 read a second per SSD node,
 * https://cloud.google.com/bigtable/docs/performance).
 */
export class BigtableMarkerLog implements MarkerLog {
  readonly counts: OperationCounts = { reads: 0, writes: 0, deletes: 0 };
  /** A fold scans a source's rows once and applies them a commit at a time, rather than scanning again for each commit. */
  readonly readAhead = SOURCE_SCAN_LIMIT;

  /** Source prefixes (`<digest(source)>#`) by earliest marker, from the last scan; and when it was made. */
  private queue: string[] = [];
  private queuedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly table: Table,
    /** The wall clock, for the age of the scanned queue only. */
    private readonly now: () => number = Date.now,
  ) {}

  async record(marker: SequenceMarker): Promise<'recorded' | 'repeat'> {
    const value = storedMarker(marker);
    const [matched] = await this.table
      .row(rowKey(marker.source, marker.seq))
      .filter([{ family: MARKER_FAMILY }], { onNoMatch: [{ method: 'insert', data: { [MARKER_FAMILY]: { [COLUMN]: { value: JSON.stringify(value), timestamp: -1 } } } }] });
    this.counts.reads++;
    if (matched) return 'repeat';
    this.counts.writes++;
    return 'recorded';
  }

  async pending(source: string, limit: number): Promise<{ markers: LoggedMarker[]; more: boolean }> {
    // One row beyond the bound tells that more wait.
    const [rows] = await this.table.getRows({ prefix: `${digest(source)}#`, limit: Math.max(limit, SOURCE_SCAN_LIMIT) + 1 });
    this.counts.reads += Math.max(1, rows.length);
    const markers = rows.map((row) => {
      const cell = latestCell(row);
      const m = parseStored(Stored, JSON.parse(cell.value), `${this.table.id}/${row.id}`);
      return { key: row.id, ...m, order: Math.floor(Number(cell.timestamp) / 1000), micros: BigInt(cell.timestamp) };
    });
    markers.sort((a, b) => (a.micros !== b.micros ? (a.micros < b.micros ? -1 : 1) : a.watermarkMs !== b.watermarkMs ? a.watermarkMs - b.watermarkMs : compareDigits(a.seq, b.seq)));
    return { markers: markers.slice(0, limit).map(({ micros: _, ...m }) => m), more: markers.length > limit };
  }

  /**
   * The source of the earliest marker, from one scan of the table for a tick's worth of calls: the
   * scan (keys and timestamps only, at most `OLDEST_SCAN_LIMIT` rows) orders the sources by their
   * earliest marker, and each call takes the next one that still has a row (one row read), so a
   * tick that folds n sources scans the table about twice, not n times. A queue older than
   * `QUEUE_MS`, or used up, is scanned again.
   */
  async oldestPendingSource(): Promise<string | undefined> {
    for (let scanned = false; ; ) {
      if (this.queue.length === 0 || this.now() - this.queuedAt > QUEUE_MS) {
        if (scanned) return undefined;
        await this.scanSources();
        scanned = true;
      }
      while (this.queue.length > 0) {
        const [[row]] = await this.table.getRows({ prefix: this.queue.shift()!, limit: 1 });
        this.counts.reads++;
        if (row !== undefined) return parseStored(Stored, JSON.parse(latestCell(row).value), `${this.table.id}/${row.id}`).source;
      }
    }
  }

  private async scanSources(): Promise<void> {
    const [rows] = await this.table.getRows({ limit: OLDEST_SCAN_LIMIT, filter: [{ column: { cellLimit: 1 } }, { value: { strip: true } }] });
    this.counts.reads += Math.max(1, rows.length);
    const earliest = new Map<string, bigint>();
    for (const row of rows) {
      const prefix = row.id.slice(0, row.id.indexOf('#') + 1);
      const micros = BigInt(latestCell(row).timestamp);
      const known = earliest.get(prefix);
      if (known === undefined || micros < known) earliest.set(prefix, micros);
    }
    this.queue = [...earliest].sort(([, a], [, b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([prefix]) => prefix);
    this.queuedAt = this.now();
  }

  async remove(markers: readonly LoggedMarker[]): Promise<void> {
    if (markers.length === 0) return;
    await this.table.mutate(markers.map((m) => ({ key: m.key, method: 'delete' })));
    this.counts.deletes += markers.length;
  }
}

/** `<digest(source)>#<digest(seq)>`: a source's markers share a prefix. */
export function rowKey(source: string, seq: string): string {
  return `${digest(source)}#${digest(seq)}`;
}

function latestCell(row: Row): { value: string; timestamp: string } {
  const cells = Cells.safeParse((row.data as Record<string, Record<string, unknown> | undefined>)[MARKER_FAMILY]?.[COLUMN]);
  if (!cells.success) throw new Error(`gap-detector marker row ${row.id} has no marker cell: ${z.prettifyError(cells.error)}`);
  return cells.data[0]!;
}

/** Compares decimal digit strings as integers. */
function compareDigits(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
