import { assertNever } from '../../shared/events/keys';
import { chainRoles, type ChainEvent, type SuccessorType, type UpstreamType } from './chains';
import type { GapState } from './gap-state';
import { dropRanges, extend, newRange, place, planBound, rangeAt, rebase, takeNumber, type GapRange, type SequenceOutcome } from './ranges';
import type { GapRules } from './rules';
import { dueBefore, type Due } from './schedule';
import { fileReported, newUpstream, REPORTED, SATISFIED, SEEN, waitingUpstream, type Slot } from './slots';

/**
 * The missing-event rules of DESIGN §3 as a decider (Emmett): `decide(state, input, ctx)`
 * reads the state and returns what happens, in order; `evolve(state, decision)` applies one
 * decision. No I/O and no clock: time comes in as event times and watermarks. Replay, the
 * function's store transitions and the tests all go through `run`, so the order of the steps
 * lives here and nowhere else:
 *
 * 1. the watermark moves to the input's (its own time included), and whatever fell due by it
 *    is reported, earliest deadline first;
 * 2. a sequence number counts: above the highest or below the lowest it reveals the skipped
 *    range (deadline = its time + grace), inside an open range it fills it, inside a reported
 *    one it is late;
 * 3. an accepted event satisfies the upstreams waiting under its key and closes, late, those
 *    already reported broken there; then it waits under its own key;
 * 4. what step 2 or 3 opened already overdue is reported at once.
 */

export interface DecideContext {
  readonly rules: GapRules;
  /**
   * Deliveries repeat (Pub/Sub is at least once): an upstream already reported broken that
   * comes again is a redelivery, not a new chain. Replay never repeats a line.
   */
  readonly redeliveries: boolean;
}

export type GapInput =
  /** The watermark moved on: another source's event, a tick, the end of input. */
  | { readonly kind: 'advance'; readonly watermarkMs: number }
  /** A valid event's sequence number (duplicates included: they used their number). */
  | {
      readonly kind: 'sequence';
      readonly source: string;
      readonly seq: bigint;
      readonly eventId: string;
      readonly type: string;
      readonly timeMs: number;
      /** Arrival order: the tie-break among equal deadlines. */
      readonly order: number;
      /** The watermark as the delivery saw it. */
      readonly watermarkMs: number;
    }
  /** An accepted event, for the chains it satisfies and opens. */
  | {
      readonly kind: 'chain';
      readonly event: ChainEvent;
      readonly timeMs: number;
      readonly order: number;
      readonly watermarkMs: number;
      /** Replay: the input line, carried into a `chain_broken` finding. */
      readonly line?: number;
      /** The event as it came, kept to republish it if its chain breaks. */
      readonly payload?: string;
    }
  /** Keeps a source's state bounded (the function: its document must stay small). */
  | { readonly kind: 'bound'; readonly source: string; readonly forgetBeforeMs: number; readonly maxRanges: number };

export type GapDecision =
  | { readonly kind: 'watermark_moved'; readonly watermarkMs: number }
  /** A gap is reported: by its deadline, or early to bound its source. */
  | { readonly kind: 'gap_reported'; readonly source: string; readonly from: bigint; readonly to: bigint }
  /** An upstream's successor did not come by its deadline. */
  | {
      readonly kind: 'chain_reported';
      readonly key: string;
      readonly eventId: string;
      readonly type: UpstreamType;
      readonly source: string;
      readonly expectedType: SuccessorType;
      readonly line: number | undefined;
      readonly payload: string | undefined;
    }
  | {
      readonly kind: 'number_counted';
      readonly source: string;
      readonly seq: bigint;
      readonly outcome: SequenceOutcome;
      /** `extended` and `rebased`: the range it revealed. */
      readonly skipped: { readonly from: bigint; readonly to: bigint; readonly deadlineMs: number; readonly order: number } | undefined;
      readonly eventId: string;
      readonly type: string;
      /** `jumped`: the closest number seen and the bound it is beyond; `rebased`: the number it continues from. */
      readonly jump?: { readonly nearest: bigint; readonly bound: bigint };
      readonly rebasedFrom?: bigint;
    }
  /** An accepted upstream starts waiting for its successor. */
  | {
      readonly kind: 'chain_opened';
      readonly key: string;
      readonly eventId: string;
      readonly type: UpstreamType;
      readonly source: string;
      readonly timeMs: number;
      readonly deadlineMs: number;
      readonly order: number;
      readonly expectedType: SuccessorType;
      readonly line: number | undefined;
      readonly payload: string | undefined;
    }
  /**
   * The successor of `key` arrived after the upstream `upstreamId` was reported broken: it
   * closes that chain, late (DESIGN §3).
   */
  | {
      readonly kind: 'chain_closed_late';
      readonly key: string;
      readonly upstreamId: string;
      readonly eventId: string;
      readonly type: string;
      readonly source: string;
    }
  /** The successor of `key` arrived: whatever waits there is satisfied, and so is whatever is filed there later. */
  | { readonly kind: 'successor_arrived'; readonly key: string; readonly eventId: string; readonly type: string; readonly source: string }
  | { readonly kind: 'ranges_dropped'; readonly source: string; readonly froms: readonly bigint[] };

const NONE: readonly GapDecision[] = Object.freeze([]);
const NO_DUE: readonly Due[] = Object.freeze([]);

/** What `input` makes happen to `state`, in order. Reads the state, changes nothing in it. */
export function decide(state: GapState, input: GapInput, ctx: DecideContext): readonly GapDecision[] {
  switch (input.kind) {
    case 'advance': {
      if (!(input.watermarkMs > state.watermarkMs)) return NONE;
      const out: GapDecision[] = [];
      advance(state, input.watermarkMs, out);
      return out;
    }
    case 'sequence':
      return decideSequence(state, input, ctx);
    case 'chain':
      return decideChain(state, input, ctx);
    case 'bound':
      return decideBound(state, input);
    default:
      return assertNever(input);
  }
}

/** Applies one decision of `decide` (in the order given): returns the state, changed in place. */
export function evolve(state: GapState, d: GapDecision): GapState {
  switch (d.kind) {
    case 'watermark_moved':
      state.watermarkMs = d.watermarkMs;
      // Everything due by now is being reported by the decisions that follow, or is settled.
      while (state.due.popBefore(d.watermarkMs) !== undefined);
      return state;
    case 'gap_reported': {
      const r = rangeAt(state.sources.get(d.source), d.from);
      if (r !== undefined && !r.reported) {
        r.reported = true;
        state.openGaps--;
      }
      return state;
    }
    case 'chain_reported': {
      const slot = state.slots.get(d.key);
      if (slot === undefined || slot === SEEN) return state;
      const u = waitingUpstream(slot, d.eventId);
      if (u === undefined) return state;
      u.state = REPORTED;
      state.waitingChains--;
      slot.waiting.splice(slot.waiting.indexOf(u), 1);
      // An emptied list keeps its room unless its length is set: release it (a settled slot may be held long).
      if (slot.waiting.length === 0) slot.waiting.length = 0;
      fileReported(slot, u.eventId);
      return state;
    }
    case 'number_counted':
      countNumber(state, d);
      return state;
    case 'chain_opened': {
      const existing = state.slots.get(d.key);
      const upstream = newUpstream(d.key, d.eventId, d.type, d.source, d.timeMs, d.deadlineMs, d.order, d.line, d.payload);
      if (existing === undefined || existing === SEEN) {
        // A list of exactly one: a list grown by a push keeps room for 16 more, and most keys never get a second upstream.
        state.slots.set(d.key, { waiting: [upstream], reported: [] });
      } else {
        existing.waiting.push(upstream);
      }
      state.due.push(upstream);
      state.waitingChains++;
      return state;
    }
    case 'chain_closed_late':
      // Nothing to change before `successor_arrived`, which follows and closes the key.
      return state;
    case 'successor_arrived': {
      const slot = state.slots.get(d.key);
      if (slot !== undefined && slot !== SEEN) {
        for (const u of slot.waiting) u.state = SATISFIED;
        state.waitingChains -= slot.waiting.length;
      }
      state.slots.set(d.key, SEEN);
      return state;
    }
    case 'ranges_dropped': {
      const s = state.sources.get(d.source);
      if (s !== undefined) dropRanges(s, new Set(d.froms));
      return state;
    }
    default:
      return assertNever(d);
  }
}

/** Decides and applies: the one way every caller moves a state on. Returns the decisions, for findings and messages. */
export function run(state: GapState, input: GapInput, ctx: DecideContext): readonly GapDecision[] {
  const decisions = decide(state, input, ctx);
  for (const d of decisions) evolve(state, d);
  return decisions;
}

/** Step 1: the watermark moves to `watermarkMs`; returns what that reports. */
function advance(state: GapState, watermarkMs: number, out: GapDecision[]): readonly Due[] {
  if (!(watermarkMs > state.watermarkMs)) return NO_DUE;
  out.push({ kind: 'watermark_moved', watermarkMs });
  const due = state.due.liveBefore(watermarkMs);
  for (const item of due) out.push(reported(item));
  return due;
}

function reported(item: Due): GapDecision {
  if (item.kind === 'gap') return { kind: 'gap_reported', source: item.source, from: item.from, to: item.to };
  const { key, eventId, type, source, expectedType, line, payload } = item;
  return { kind: 'chain_reported', key, eventId, type, source, expectedType, line, payload };
}

function decideSequence(state: GapState, input: Extract<GapInput, { kind: 'sequence' }>, ctx: DecideContext): readonly GapDecision[] {
  const { source, seq, eventId, type } = input;
  const out: GapDecision[] = [];
  const watermarkMs = Math.max(state.watermarkMs, input.watermarkMs, input.timeMs);
  const due = advance(state, watermarkMs, out);
  const bound = jumpBound(ctx.rules.maxSequenceJump);
  const where = place(state.sources.get(source), seq, bound);
  switch (where.at) {
    case 'first':
      out.push({ kind: 'number_counted', source, seq, outcome: 'first', skipped: undefined, eventId, type });
      break;
    case 'edge': {
      const skipped = where.skipped && { ...where.skipped, deadlineMs: input.timeMs + ctx.rules.graceMs, order: input.order };
      out.push({ kind: 'number_counted', source, seq, outcome: 'extended', skipped, eventId, type });
      if (skipped !== undefined && skipped.deadlineMs < watermarkMs) out.push({ kind: 'gap_reported', source, from: skipped.from, to: skipped.to });
      break;
    }
    case 'gap': {
      const late = where.range.reported || due.includes(where.range);
      out.push({ kind: 'number_counted', source, seq, outcome: late ? 'late' : 'filled', skipped: undefined, eventId, type });
      break;
    }
    case 'seen':
      out.push({ kind: 'number_counted', source, seq, outcome: 'repeat', skipped: undefined, eventId, type });
      break;
    case 'jump':
      out.push({ kind: 'number_counted', source, seq, outcome: 'jumped', skipped: undefined, eventId, type, jump: { nearest: where.nearest, bound } });
      break;
    case 'reset': {
      // What was still open before the reset is reported now: nothing will fill it from here on.
      for (const r of state.sources.get(source)!.gaps) {
        if (!r.reported && !due.includes(r)) out.push({ kind: 'gap_reported', source, from: r.from, to: r.to });
      }
      const skipped = where.skipped && { ...where.skipped, deadlineMs: input.timeMs + ctx.rules.graceMs, order: input.order };
      out.push({ kind: 'number_counted', source, seq, outcome: 'rebased', skipped, eventId, type, rebasedFrom: where.from });
      if (skipped !== undefined && skipped.deadlineMs < watermarkMs) out.push({ kind: 'gap_reported', source, from: skipped.from, to: skipped.to });
      break;
    }
    default:
      assertNever(where);
  }
  return out;
}

/** `BigInt(maxSequenceJump)`, made once per setting rather than once per number (replay counts millions). */
let boundOf = Number.NaN;
let bigBound = 0n;
function jumpBound(maxSequenceJump: number): bigint {
  if (maxSequenceJump !== boundOf) {
    bigBound = BigInt(maxSequenceJump);
    boundOf = maxSequenceJump;
  }
  return bigBound;
}

function countNumber(state: GapState, d: Extract<GapDecision, { kind: 'number_counted' }>): void {
  switch (d.outcome) {
    case 'first':
      state.sources.set(d.source, { low: d.seq, high: d.seq, gaps: [] });
      return;
    case 'extended':
      extend(state.sources.get(d.source)!, d.seq, openSkipped(state, d));
      return;
    case 'filled':
    case 'late': {
      const taken = takeNumber(state.sources.get(d.source)!, d.seq);
      if (taken === undefined || taken.range.reported) return;
      if (taken.removed) state.openGaps--;
      if (taken.upper !== undefined) {
        state.due.push(taken.upper);
        state.openGaps++;
      }
      return;
    }
    case 'repeat':
      return;
    case 'jumped':
      state.sources.get(d.source)!.jumped = d.seq;
      return;
    case 'rebased':
      // The open ranges were reported just before (gap_reported); what is left is settled.
      rebase(state.sources.get(d.source)!, d.rebasedFrom!, d.seq, openSkipped(state, d));
      return;
    default:
      assertNever(d.outcome);
  }
}

/** The range a counted number skipped over, opened and due (its gap reported once it has waited its grace period). */
function openSkipped(state: GapState, d: Extract<GapDecision, { kind: 'number_counted' }>): GapRange | undefined {
  if (d.skipped === undefined) return undefined;
  const range = newRange(d.source, d.skipped.from, d.skipped.to, d.skipped.deadlineMs, d.skipped.order);
  state.due.push(range);
  state.openGaps++;
  return range;
}

function decideChain(state: GapState, input: Extract<GapInput, { kind: 'chain' }>, ctx: DecideContext): readonly GapDecision[] {
  const { event, timeMs } = input;
  const watermarkMs = Math.max(state.watermarkMs, input.watermarkMs, timeMs);
  const roles = chainRoles(event);
  if (roles.satisfies === undefined && roles.awaits === undefined && !(watermarkMs > state.watermarkMs)) return NONE;
  const out: GapDecision[] = [];
  const due = advance(state, watermarkMs, out);
  if (roles.satisfies !== undefined) {
    const key = roles.satisfies;
    const slot = state.slots.get(key);
    if (slot !== SEEN) {
      // Upstreams reported broken before, then those step 1 just reported: this successor closes them late.
      for (const upstreamId of slot?.reported ?? []) out.push({ kind: 'chain_closed_late', key, upstreamId, eventId: event.id, type: event.type, source: event.source });
      for (const item of due) {
        if (item.kind === 'chain' && item.key === key && !slot?.reported.includes(item.eventId)) out.push({ kind: 'chain_closed_late', key, upstreamId: item.eventId, eventId: event.id, type: event.type, source: event.source });
      }
      out.push({ kind: 'successor_arrived', key, eventId: event.id, type: event.type, source: event.source });
    }
  }
  if (roles.awaits === undefined) return out;
  const { key, upstreamType, expectedType } = roles.awaits;
  const slot = state.slots.get(key);
  if (slot === SEEN || (slot !== undefined && knows(slot, event.id, due, ctx))) return out;
  const deadlineMs = timeMs + ctx.rules.chainDeadlinesMs[upstreamType];
  const { line, payload, order } = input;
  out.push({ kind: 'chain_opened', key, eventId: event.id, type: upstreamType, source: event.source, timeMs, deadlineMs, order, expectedType, line, payload });
  if (deadlineMs < watermarkMs) out.push({ kind: 'chain_reported', key, eventId: event.id, type: upstreamType, source: event.source, expectedType, line, payload });
  return out;
}

/**
 * Whether the slot already holds this upstream: still waiting (after step 1), or, where
 * deliveries repeat, already reported.
 */
function knows(slot: Slot, eventId: string, dueNow: readonly Due[], ctx: DecideContext): boolean {
  const u = waitingUpstream(slot, eventId);
  const reportedNow = u !== undefined && dueNow.includes(u);
  if (u !== undefined && !reportedNow) return true;
  return ctx.redeliveries && (reportedNow || slot.reported.includes(eventId));
}

function decideBound(state: GapState, input: Extract<GapInput, { kind: 'bound' }>): readonly GapDecision[] {
  const s = state.sources.get(input.source);
  if (s === undefined) return NONE;
  const { drop, early } = planBound(s, input.forgetBeforeMs, input.maxRanges, dueBefore);
  if (drop.length === 0) return NONE;
  const out: GapDecision[] = early.map((r) => ({ kind: 'gap_reported', source: input.source, from: r.from, to: r.to }));
  out.push({ kind: 'ranges_dropped', source: input.source, froms: drop.map((r) => r.from) });
  return out;
}
