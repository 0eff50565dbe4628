/**
 * The pure half of the load run (./run.ts): what a finding is about, whether the pipeline's
 * findings are replay's, percentiles. No I/O.
 */
/** A finding as read back from the findings topic or replay's findings.ndjson: only what it is about matters here. */
export interface FindingLike {
  readonly kind?: unknown;
  readonly event_id?: unknown;
  readonly source?: unknown;
  readonly from_sequence?: unknown;
  readonly to_sequence?: unknown;
  readonly series?: unknown;
  readonly hour?: unknown;
  readonly field?: unknown;
  readonly closes?: unknown;
}

/**
 * What a finding is about, by kind and event (DESIGN §6b: the same findings "by kind and event"):
 * a gap by its source and range, a volume anomaly by its series and hour, a mismatch by its field
 * too (one event may have several), everything else by its event id.
 */
export function findingKey(f: FindingLike): string {
  const kind = String(f.kind);
  switch (kind) {
    case 'gap':
      return `gap ${String(f.source)} ${String(f.from_sequence)}..${String(f.to_sequence)}`;
    case 'volume_anomaly':
      return `volume_anomaly ${String(f.series)} ${String(f.hour)}`;
    case 'late':
      return `late ${String(f.event_id)} ${String(f.closes ?? '')}`.trimEnd();
    default:
      return f.field !== undefined ? `${kind} ${String(f.event_id)} ${String(f.field)}` : `${kind} ${String(f.event_id ?? '(no id)')}`;
  }
}

export interface Comparison {
  readonly equal: boolean;
  /** One line per difference: `only in the pipeline: KEY` (×n when repeated), `only in replay: KEY`. */
  readonly differences: string[];
}

/** Compares two lists of findings as multisets of {@link findingKey} (the pipeline's counted once per finding id first). */
export function compareFindings(pipeline: readonly FindingLike[], replay: readonly FindingLike[], limit = 200): Comparison {
  const count = (list: readonly FindingLike[]) => {
    const m = new Map<string, number>();
    for (const f of list) m.set(findingKey(f), (m.get(findingKey(f)) ?? 0) + 1);
    return m;
  };
  const a = count(pipeline);
  const b = count(replay);
  const differences: string[] = [];
  const say = (where: string, key: string, n: number) => differences.push(`only in ${where}: ${key}${n > 1 ? ` (x${n})` : ''}`);
  for (const [key, n] of a) if (n > (b.get(key) ?? 0)) say('the pipeline', key, n - (b.get(key) ?? 0));
  for (const [key, n] of b) if (n > (a.get(key) ?? 0)) say('replay', key, n - (a.get(key) ?? 0));
  differences.sort();
  const shown = differences.length > limit ? [...differences.slice(0, limit), `... and ${differences.length - limit} more`] : differences;
  return { equal: differences.length === 0, differences: shown };
}

/** The p-th percentile (0-100, nearest rank) of `values`; undefined when there are none. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((x, y) => x - y);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1];
}

/** Counts per value: how often each id was seen. */
export function tally(values: Iterable<string>): Map<string, number> {
  const m = new Map<string, number>();
  for (const v of values) m.set(v, (m.get(v) ?? 0) + 1);
  return m;
}

/** One message on events-unique: the event it carries and the events-raw delivery it was accepted from (attribute INGEST_ID). */
export interface UniqueCopy {
  readonly eventId: string;
  readonly ingestId: string;
}

export interface UniqueDoubles {
  /** Events accepted from two or more different deliveries: a duplicate let through, in order of first sight. */
  readonly doubled: string[];
  /**
   * Copies beyond the first of one (event, delivery) pair: the same accepted delivery published
   * again by its redelivery (an instance that died after publishing and before its ack, an ack
   * that was lost). Pub/Sub publishing is at least once; every consumer of events-unique keys on
   * the event id, so such a copy changes nothing downstream.
   */
  readonly publishedAgain: number;
}

/**
 * What counts as doubled on events-unique, for the load run and the fault-injection suite alike:
 * an event is doubled only when two different deliveries of it were accepted (two ingest ids);
 * the same delivery published twice is at-least-once publishing, counted apart.
 */
export function uniqueDoubles(copies: Iterable<UniqueCopy>): UniqueDoubles {
  const deliveries = new Map<string, Map<string, number>>();
  for (const { eventId, ingestId } of copies) {
    let of = deliveries.get(eventId);
    if (of === undefined) deliveries.set(eventId, (of = new Map()));
    of.set(ingestId, (of.get(ingestId) ?? 0) + 1);
  }
  const doubled: string[] = [];
  let publishedAgain = 0;
  for (const [eventId, of] of deliveries) {
    if (of.size > 1) doubled.push(eventId);
    for (const n of of.values()) publishedAgain += n - 1;
  }
  return { doubled, publishedAgain };
}
