import type { UpstreamType } from './chains';
import { initialGapState, type GapState } from './gap-state';
import { newRange, type GapRange } from './ranges';
import { newUpstream, SEEN, type Slot, type SlotState } from './slots';

/**
 * The persisted forms of a gap-detector state, as plain JSON values (numbers as decimal
 * strings): per source, per await key, or the whole state. The function keeps one document
 * per source and per key; a whole snapshot is for tests and tools.
 */

/** Persisted form of one source's sequence state. */
export interface SourceSnapshot {
  readonly low: string;
  readonly high: string;
  readonly gaps: ReadonlyArray<{
    readonly from: string;
    readonly to: string;
    readonly deadlineMs: number;
    readonly order: number;
    readonly reported: boolean;
  }>;
  /** The number that jumped beyond the bound, kept apart (see SourceState). */
  readonly jumped?: string;
}

export interface UpstreamSnapshot {
  readonly eventId: string;
  readonly type: UpstreamType;
  readonly source: string;
  readonly timeMs: number;
  readonly deadlineMs: number;
  readonly order: number;
  readonly payload?: string;
}

/** Persisted form of one await key's chain state. */
export interface SlotSnapshot {
  /** The successor arrived: upstreams filed later are satisfied on arrival. */
  readonly seen: boolean;
  readonly waiting: readonly UpstreamSnapshot[];
  /** Upstreams reported broken, awaiting a successor that would close them late. */
  readonly reported: readonly string[];
}

/** A whole state. The input lines of waiting upstreams (replay only) are not kept. */
export interface GapSnapshot {
  readonly watermarkMs: number | null;
  readonly sources: Readonly<Record<string, SourceSnapshot>>;
  readonly slots: Readonly<Record<string, SlotSnapshot>>;
}

export function exportSource(state: GapState, source: string): SourceSnapshot | undefined {
  const s = state.sources.get(source);
  if (s === undefined) return undefined;
  return {
    low: s.low.toString(),
    high: s.high.toString(),
    gaps: s.gaps.map((r) => ({ from: r.from.toString(), to: r.to.toString(), deadlineMs: r.deadlineMs, order: r.order, reported: r.reported })),
    ...(s.jumped === undefined ? {} : { jumped: s.jumped.toString() }),
  };
}

export function restoreSource(state: GapState, source: string, snapshot: SourceSnapshot): void {
  const gaps = snapshot.gaps.map(
    (g): GapRange => newRange(source, BigInt(g.from), BigInt(g.to), g.deadlineMs, g.order, g.reported),
  );
  state.sources.set(source, { low: BigInt(snapshot.low), high: BigInt(snapshot.high), gaps, ...(snapshot.jumped === undefined ? {} : { jumped: BigInt(snapshot.jumped) }) });
  for (const g of gaps) {
    if (g.reported) continue;
    state.due.push(g);
    state.openGaps++;
  }
}

export function exportSlot(state: GapState, key: string): SlotSnapshot | undefined {
  const slot = state.slots.get(key);
  if (slot === undefined) return undefined;
  if (slot === SEEN) return { seen: true, waiting: [], reported: [] };
  return { seen: false, waiting: slot.waiting.map(upstreamSnapshot), reported: [...slot.reported] };
}

export function restoreSlot(state: GapState, key: string, snapshot: SlotSnapshot): void {
  if (snapshot.seen) {
    state.slots.set(key, SEEN);
    return;
  }
  const slot: Slot = { waiting: [], reported: [...snapshot.reported] };
  state.slots.set(key, slot);
  for (const u of snapshot.waiting) {
    const upstream = newUpstream(key, u.eventId, u.type, u.source, u.timeMs, u.deadlineMs, u.order, undefined, u.payload);
    slot.waiting.push(upstream);
    state.due.push(upstream);
    state.waitingChains++;
  }
}

export function snapshotState(state: GapState<Map<string, SlotState>>): GapSnapshot {
  const sources: Record<string, SourceSnapshot> = {};
  for (const source of state.sources.keys()) sources[source] = exportSource(state, source)!;
  const slots: Record<string, SlotSnapshot> = {};
  for (const key of state.slots.keys()) slots[key] = exportSlot(state, key)!;
  return { watermarkMs: Number.isFinite(state.watermarkMs) ? state.watermarkMs : null, sources, slots };
}

export function restoreState(snapshot: GapSnapshot): GapState<Map<string, SlotState>> {
  const state = initialGapState(snapshot.watermarkMs ?? Number.NEGATIVE_INFINITY);
  for (const [source, s] of Object.entries(snapshot.sources)) restoreSource(state, source, s);
  for (const [key, s] of Object.entries(snapshot.slots)) restoreSlot(state, key, s);
  return state;
}

/** The persisted fields of an upstream, and only those (a payload only when there is one). */
export function upstreamSnapshot(u: UpstreamSnapshot): UpstreamSnapshot {
  const { eventId, type, source, timeMs, deadlineMs, order, payload } = u;
  return { eventId, type, source, timeMs, deadlineMs, order, ...(payload === undefined ? {} : { payload }) };
}

/** The earliest deadline among a snapshot's open gaps, if any. */
export function nextGapDeadline(snapshot: SourceSnapshot): number | undefined {
  let next: number | undefined;
  for (const g of snapshot.gaps) if (!g.reported && (next === undefined || g.deadlineMs < next)) next = g.deadlineMs;
  return next;
}

/** The earliest deadline among a slot's waiting upstreams, if any. */
export function nextChainDeadline(snapshot: SlotSnapshot): number | undefined {
  let next: number | undefined;
  for (const u of snapshot.waiting) if (next === undefined || u.deadlineMs < next) next = u.deadlineMs;
  return next;
}
