import type { DueQueue } from './heap';
import type { SourceState } from './ranges';
import { newSchedule, type Due } from './schedule';
import type { SlotState } from './slots';

/**
 * Chain state per await key: a Map in the function (a delivery's slice of it), or, in replay,
 * a table that keeps settled keys as digests (cli/replay/chain-slots.ts).
 */
export interface SlotTable {
  get(key: string): SlotState | undefined;
  set(key: string, value: SlotState): unknown;
  delete(key: string): boolean;
  readonly size: number;
}

/**
 * The gap-detector's state: what `decide` reads and `evolve` changes. Replay holds one for the
 * whole log; the function restores the slice one delivery touches (a source, or one or two
 * await keys) from its snapshot, and saves it again (see snapshots.ts).
 *
 * It is mutable on purpose: `evolve` updates it in place and returns it, so a step costs
 * O(log n) over a log of millions of events. `decide` only reads it.
 */
export interface GapState<Slots extends SlotTable = SlotTable> {
  /** The highest watermark applied (event time, epoch ms). */
  watermarkMs: number;
  /** Sequence state per source. */
  readonly sources: Map<string, SourceState>;
  /** Chain state per await key. */
  readonly slots: Slots;
  /** Every open gap and waiting upstream by deadline: an index over `sources` and `slots`. */
  readonly due: DueQueue<Due>;
  openGaps: number;
  waitingChains: number;
}

/** A state that holds nothing yet; its chain state in a Map unless another table is given. */
export function initialGapState(watermarkMs?: number): GapState<Map<string, SlotState>>;
export function initialGapState<Slots extends SlotTable>(watermarkMs: number, slots: Slots): GapState<Slots>;
export function initialGapState(watermarkMs = Number.NEGATIVE_INFINITY, slots: SlotTable = new Map<string, SlotState>()): GapState {
  return { watermarkMs, sources: new Map(), slots, due: newSchedule(), openGaps: 0, waitingChains: 0 };
}

/** Open gap ranges plus waiting chains: what would still be reported if time went on. */
export function pending(state: GapState): number {
  return state.openGaps + state.waitingChains;
}
