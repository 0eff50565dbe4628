/**
 * Sequence state of one source: the lowest and highest number seen and the missing numbers
 * between them as ranges, so that a jump of a billion is one range, not a billion of anything.
 */

/** An open or reported range of missing sequence numbers of one source (inclusive). */
export interface GapRange {
  readonly kind: 'gap';
  readonly source: string;
  from: bigint;
  to: bigint;
  /** The revealing event's time plus the grace period. */
  readonly deadlineMs: number;
  /** Arrival order of the revealing event: the tie-break among equal deadlines. */
  readonly order: number;
  reported: boolean;
  /** No longer tracked (filled completely, or dropped to bound the source): the schedule drops it lazily. */
  removed: boolean;
}

/** A new open range (one literal shape for every range: the schedule compares many of them). */
export function newRange(source: string, from: bigint, to: bigint, deadlineMs: number, order: number, reported = false): GapRange {
  return { kind: 'gap', source, from, to, deadlineMs, order, reported, removed: false };
}

export interface SourceState {
  low: bigint;
  high: bigint;
  /** Missing ranges, sorted by `from`, disjoint, all strictly between `low` and `high`. */
  readonly gaps: GapRange[];
  /**
   * The last number that lay beyond the bound on jumps, kept apart from `low`..`high`: a bad
   * number, or the first of a reset (then the next numbers continue from it).
   */
  jumped?: bigint;
}

export type SequenceOutcome =
  /** The first number seen from this source: nothing before it is missing. */
  | 'first'
  /** Beyond the lowest or highest number seen; any numbers skipped now form a gap. */
  | 'extended'
  /** A number of a gap not yet reported: out-of-order arrival within the grace period. */
  | 'filled'
  /** A number of a gap already reported: the event is late. */
  | 'late'
  /** A number already seen. */
  | 'repeat'
  /** Beyond the bound on jumps from the numbers seen: a reset or a bad number, kept apart. */
  | 'jumped'
  /** Continues from the number that jumped: the source was reset, and is judged from there on. */
  | 'rebased';

/** Where a number falls in a source's state, read only. */
export type Placement =
  | { readonly at: 'first' }
  /** Above the highest or below the lowest; `skipped` is the range it reveals, if any. */
  | { readonly at: 'edge'; readonly skipped: { readonly from: bigint; readonly to: bigint } | undefined }
  | { readonly at: 'gap'; readonly range: GapRange }
  | { readonly at: 'seen' }
  /** More than `bound` from `nearest`, the closest number seen. */
  | { readonly at: 'jump'; readonly nearest: bigint }
  /** Within `bound` of the number that jumped: the numbers continue from there. */
  | { readonly at: 'reset'; readonly from: bigint; readonly skipped: { readonly from: bigint; readonly to: bigint } | undefined };

export function place(s: SourceState | undefined, seq: bigint, bound: bigint): Placement {
  if (s === undefined) return { at: 'first' };
  if (seq === s.jumped) return { at: 'seen' };
  if (seq > s.high) return seq - s.high > bound ? beyond(s, seq, s.high, bound) : edge(between(s.high, seq));
  if (seq < s.low) return s.low - seq > bound ? beyond(s, seq, s.low, bound) : edge(between(seq, s.low));
  const i = findRange(s.gaps, seq);
  return i < 0 ? { at: 'seen' } : { at: 'gap', range: s.gaps[i]! };
}

/** The next number of a run (nothing skipped), the usual case: one answer for all. */
const NEXT: Placement = Object.freeze({ at: 'edge', skipped: undefined });

function edge(skipped: { from: bigint; to: bigint } | undefined): Placement {
  return skipped === undefined ? NEXT : { at: 'edge', skipped };
}

/** The numbers strictly between `a` < `b`, if any. */
function between(a: bigint, b: bigint): { from: bigint; to: bigint } | undefined {
  return b > a + 1n ? { from: a + 1n, to: b - 1n } : undefined;
}

function beyond(s: SourceState, seq: bigint, nearest: bigint, bound: bigint): Placement {
  const j = s.jumped;
  if (j === undefined || (seq > j ? seq - j : j - seq) > bound) return { at: 'jump', nearest };
  return { at: 'reset', from: j, skipped: seq > j ? between(j, seq) : between(seq, j) };
}

/**
 * Starts the source again from `from` (the number that jumped) and `seq`, which continues from
 * it: the ranges of before are no longer tracked (the caller reported the open ones).
 */
export function rebase(s: SourceState, from: bigint, seq: bigint, skipped: GapRange | undefined): void {
  for (const r of s.gaps) r.removed = true;
  s.gaps.length = 0;
  if (skipped !== undefined) s.gaps.push(skipped);
  s.low = seq < from ? seq : from;
  s.high = seq > from ? seq : from;
  s.jumped = undefined;
}

/** Takes `seq` as the new lowest or highest number, filing the range it skipped (if any) in order. */
export function extend(s: SourceState, seq: bigint, skipped: GapRange | undefined): void {
  if (seq > s.high) {
    if (skipped !== undefined) s.gaps.push(skipped);
    s.high = seq;
  } else {
    if (skipped !== undefined) s.gaps.unshift(skipped);
    s.low = seq;
  }
}

/**
 * Takes `seq` out of the range holding it: the range goes (then `removed`), shrinks, or splits
 * (then `upper`, the new part above `seq`, keeping the range's deadline and state).
 */
export function takeNumber(s: SourceState, seq: bigint): { range: GapRange; removed: boolean; upper: GapRange | undefined } | undefined {
  const i = findRange(s.gaps, seq);
  if (i < 0) return undefined;
  const r = s.gaps[i]!;
  if (r.from === r.to) {
    s.gaps.splice(i, 1);
    r.removed = true;
    return { range: r, removed: true, upper: undefined };
  }
  if (seq === r.from) {
    r.from = seq + 1n;
  } else if (seq === r.to) {
    r.to = seq - 1n;
  } else {
    const upper = newRange(r.source, seq + 1n, r.to, r.deadlineMs, r.order, r.reported);
    r.to = seq - 1n;
    s.gaps.splice(i + 1, 0, upper);
    return { range: r, removed: false, upper };
  }
  return { range: r, removed: false, upper: undefined };
}

/** The range starting at `from`, if any. */
export function rangeAt(s: SourceState | undefined, from: bigint): GapRange | undefined {
  if (s === undefined) return undefined;
  const i = findRange(s.gaps, from);
  const r = i < 0 ? undefined : s.gaps[i]!;
  return r !== undefined && r.from === from ? r : undefined;
}

/**
 * What keeps one source's state bounded: the reported ranges whose deadline is before
 * `forgetBeforeMs` are forgotten (a late arrival there is then taken as a repeat); past
 * `maxRanges`, the earliest reported ones, and then the earliest open ones, which are reported
 * ahead of their grace period (`early`). Read only; `drop` includes `early`.
 */
export function planBound(
  s: SourceState,
  forgetBeforeMs: number,
  maxRanges: number,
  before: (a: GapRange, b: GapRange) => boolean,
): { readonly drop: readonly GapRange[]; readonly early: readonly GapRange[] } {
  const forget = (r: GapRange) => r.reported && r.deadlineMs < forgetBeforeMs;
  const drop = s.gaps.filter(forget);
  const kept = drop.length === 0 ? s.gaps : s.gaps.filter((r) => !forget(r));
  if (kept.length <= maxRanges) return { drop, early: [] };
  const byDeadline = (a: GapRange, b: GapRange) => (before(a, b) ? -1 : before(b, a) ? 1 : 0);
  const excess = kept.length - maxRanges;
  const oldReported = kept.filter((r) => r.reported).sort(byDeadline).slice(0, excess);
  const early = kept.filter((r) => !r.reported).sort(byDeadline).slice(0, excess - oldReported.length);
  return { drop: [...drop, ...oldReported, ...early], early };
}

/** Removes the ranges starting at these numbers. */
export function dropRanges(s: SourceState, froms: ReadonlySet<bigint>): void {
  const keep: GapRange[] = [];
  for (const r of s.gaps) {
    if (froms.has(r.from)) r.removed = true;
    else keep.push(r);
  }
  s.gaps.length = 0;
  for (const r of keep) s.gaps.push(r);
}

/** The index of the range holding `seq`, or -1. Recent gaps are the usual hit: try the last first. */
export function findRange(gaps: readonly GapRange[], seq: bigint): number {
  let hi = gaps.length - 1;
  if (hi < 0) return -1;
  const last = gaps[hi]!;
  if (seq >= last.from) return seq <= last.to ? hi : -1;
  let lo = 0;
  hi--;
  // The last range with from <= seq.
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (gaps[mid]!.from <= seq) lo = mid + 1;
    else hi = mid - 1;
  }
  if (hi < 0) return -1;
  return seq <= gaps[hi]!.to ? hi : -1;
}
