/**
 * Writes per Firestore document, from the meters of a cost run: pure arithmetic over what each
 * function process counted (tools/cost/meter.ts), for the hot-document check of `npm run cost`
 * and the scale model (tools/scale). Firestore sustains about one write a second per document
 * (https://firebase.google.com/docs/firestore/best-practices#hotspots, "Avoid writing to a
 * document more than once per second"), so what matters is each document's busiest second.
 */
import type { DocumentCount, MeterFile } from './counts';

/** One collection's documents as the run wrote them. */
export interface CollectionWrites {
  readonly collection: string;
  readonly documents: number;
  readonly writes: number;
  readonly deletes: number;
  /** The most writes any one of its documents had over the run. */
  readonly maxWritesPerDocument: number;
  /** The most writes any one of its documents had in one second. */
  readonly peakWritesPerSecond: number;
  /** That document's path. */
  readonly hottest: string;
}

export interface DocumentWrites {
  /** How many documents had 1, 2, 3-4, 5-8, ... writes over the run (bucket label → documents). */
  readonly histogram: Record<string, number>;
  readonly collections: CollectionWrites[];
  /** The busiest documents, most writes in one second first, then most writes. */
  readonly hottest: Array<{ readonly path: string; readonly writes: number; readonly peakWritesPerSecond: number }>;
}

/** The collection of a document path: the segment before the document id (`a/x/b/y` → `b`). */
export function collectionOf(path: string): string {
  const parts = path.split('/');
  return parts.length >= 2 ? parts[parts.length - 2]! : path;
}

/** 1, 2, 3-4, 5-8, 9-16, ...: powers of two, so a few buckets cover any run. */
export function bucketOf(writes: number): string {
  if (writes <= 2) return String(writes);
  const hi = 2 ** Math.ceil(Math.log2(writes));
  return `${hi / 2 + 1}-${hi}`;
}

/**
 * Merges the meters' documents (the same document written by several processes: counts add up,
 * the peak is the highest any one process saw, a lower bound where two wrote it in one second)
 * and summarises them per collection, `top` busiest first.
 */
export function documentWrites(meters: ReadonlyArray<Pick<MeterFile, 'documents'>>, top = 10): DocumentWrites {
  const merged = new Map<string, Pick<DocumentCount, 'writes' | 'deletes' | 'peak'>>();
  for (const m of meters) {
    for (const [path, d] of Object.entries(m.documents ?? {})) {
      const had = merged.get(path);
      merged.set(path, had ? { writes: had.writes + d.writes, deletes: had.deletes + d.deletes, peak: Math.max(had.peak, d.peak) } : { writes: d.writes, deletes: d.deletes, peak: d.peak });
    }
  }
  const histogram: Record<string, number> = {};
  const collections = new Map<string, { documents: number; writes: number; deletes: number; max: number; peak: number; hottest: string }>();
  for (const [path, d] of merged) {
    if (d.writes > 0) {
      const bucket = bucketOf(d.writes);
      histogram[bucket] = (histogram[bucket] ?? 0) + 1;
    }
    const name = collectionOf(path);
    const c = collections.get(name) ?? { documents: 0, writes: 0, deletes: 0, max: 0, peak: 0, hottest: path };
    c.documents++;
    c.writes += d.writes;
    c.deletes += d.deletes;
    if (d.peak > c.peak || (d.peak === c.peak && d.writes > c.max)) c.hottest = path;
    c.max = Math.max(c.max, d.writes);
    c.peak = Math.max(c.peak, d.peak);
    collections.set(name, c);
  }
  const order = (x: { peak: number; writes: number }, y: { peak: number; writes: number }) => y.peak - x.peak || y.writes - x.writes;
  return {
    histogram: Object.fromEntries(Object.entries(histogram).sort(([a], [b]) => Number.parseInt(a, 10) - Number.parseInt(b, 10))),
    collections: [...collections]
      .map(([collection, c]) => ({ collection, documents: c.documents, writes: c.writes, deletes: c.deletes, maxWritesPerDocument: c.max, peakWritesPerSecond: c.peak, hottest: c.hottest }))
      .sort((x, y) => y.peakWritesPerSecond - x.peakWritesPerSecond || y.maxWritesPerDocument - x.maxWritesPerDocument),
    hottest: [...merged]
      .map(([path, d]) => ({ path, writes: d.writes, peak: d.peak }))
      .sort(order)
      .slice(0, top)
      .map(({ path, writes, peak }) => ({ path, writes, peakWritesPerSecond: peak })),
  };
}
