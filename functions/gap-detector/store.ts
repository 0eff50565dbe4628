import type { BusinessEvent } from '../../shared/events/envelope';
import { DEFAULT_GAP_RULES, type GapRules } from './rules';

/** The port of the function's state: what a delivery or a tick asks of it, and its settings. */

/** What the function's state needs beyond the rules. */
export interface GapStateConfig {
  readonly rules: GapRules;
  /** How far behind the wall clock a tick lets the watermark trail (quiet streams still report). */
  readonly allowedLatenessMs: number;
  /** How long state outlives its last use: the Firestore TTL of sources, seen successors, broken upstreams, markers. */
  readonly retentionMs: number;
  /** The most sequence ranges one source keeps (the Firestore document must stay small). */
  readonly maxRangesPerSource: number;
  /** Republish the upstream event of a broken chain (off by default). */
  readonly republish: boolean;
}

const MINUTE = 60_000;

export const DEFAULT_GAP_STATE_CONFIG: GapStateConfig = {
  rules: DEFAULT_GAP_RULES,
  allowedLatenessMs: 5 * MINUTE,
  retentionMs: 7 * 24 * 60 * MINUTE,
  maxRangesPerSource: 2000,
  republish: false,
};

export interface GapStateContext {
  /** The wall clock, epoch ms: for TTLs and fold pacing only, never for the rules. */
  readonly now: number;
  readonly config: GapStateConfig;
}

/** One use of a sequence number, recorded per delivery and folded into its source's state later. */
export interface SequenceMarker {
  readonly source: string;
  /** Decimal digits, as the event carried it. */
  readonly seq: string;
  readonly eventId: string;
  readonly type: string;
  readonly timeMs: number;
  /**
   * The watermark as the delivery saw it (its own time included): the fold moves the watermark
   * to it before applying the number, as replay does, so a number that arrived after its gap
   * fell due is late even when both reach the same fold.
   */
  readonly watermarkMs: number;
}

export interface PendingMarker extends SequenceMarker {
  /** Arrival order among the source's markers (the store's commit order). */
  readonly order: number;
}

/** A recorded marker as its log holds it: `key` names it in the log. */
export interface LoggedMarker extends PendingMarker {
  readonly key: string;
}

/** Operations on the marker log as its database counts them: documents in Firestore, rows in Bigtable. */
export interface OperationCounts {
  reads: number;
  writes: number;
  deletes: number;
}

/**
 * Where the sequence markers wait between the delivery that records one and the fold that
 * applies it: one per source and number, written by a delivery, read and removed by the folds.
 * Firestore (firestore-markers.ts) or Bigtable (bigtable-markers.ts); everything else of the
 * function's state stays in Firestore.
 */
export interface MarkerLog {
  readonly counts: OperationCounts;
  /**
   * How many markers a fold asks for at once (default: one commit's worth). A fold applies them a
   * commit's worth at a time and reads again once they are used up, or when a commit lost a race.
   */
  readonly readAhead?: number;
  /** Records a used number; `repeat` when the log already holds this source's number. */
  record(marker: SequenceMarker, ctx: GapStateContext): Promise<'recorded' | 'repeat'>;
  /** Up to `limit` of the source's markers, earliest arrival first; `more` when others wait behind them. */
  pending(source: string, limit: number): Promise<{ markers: LoggedMarker[]; more: boolean }>;
  /** The source of the earliest marker the log holds. */
  oldestPendingSource(): Promise<string | undefined>;
  /** Removes markers a fold applied; one already gone is no error, so a retried removal is harmless. */
  remove(markers: readonly LoggedMarker[]): Promise<void>;
}

/**
 * Where the chain state is kept when it is not in the store's own Firestore documents: Bigtable
 * (bigtable-chains.ts, `STATE_STORE=bigtable`). Each step is atomic on the state it changes and
 * commits the messages it causes with it, as GapStore's chain methods promise.
 */
export interface ChainLog {
  readonly counts: OperationCounts;
  /** GapStore.applyChain. */
  apply(event: BusinessEvent, timeMs: number, watermarkMs: number, payload: string | undefined, ctx: GapStateContext): Promise<OutboxMessage[]>;
  /** GapStore.sweepChains. */
  sweep(watermarkMs: number, ctx: GapStateContext, limit: number): Promise<{ swept: number; messages: OutboxMessage[] }>;
  /** The messages its steps committed at or before `writtenBeforeMs` and that are still not published. */
  pendingOutbox(writtenBeforeMs: number, limit: number): Promise<OutboxMessage[]>;
  /** Removes those of `ids` it holds (published); returns the others. */
  deleteOutbox(ids: readonly string[]): Promise<string[]>;
}

/**
 * Where an outbox message goes: a finding, or the upstream event of a broken chain to
 * re-trigger. The shell maps it to a topic; the state knows no topic names.
 */
export type Outlet = 'findings' | 'retrigger';

/** A message to publish, written in the same atomic step as the state change that caused it. */
export interface OutboxMessage {
  readonly id: string;
  readonly to: Outlet;
  readonly data: string;
  readonly attributes: Record<string, string>;
}

export interface FoldOptions {
  /** Fold even if another fold of this source ran less than `minIntervalMs` ago (the tick). */
  readonly force: boolean;
  readonly minIntervalMs: number;
}

/**
 * The function's state. Each method is one atomic step that runs the decider on the slice of
 * state it touches (transitions.ts); messages the step causes are written to an outbox in the
 * same step, and the caller publishes them and then deletes them, so a crash in between
 * publishes them later (with the same ids) instead of never.
 */
export interface GapStore {
  /** Records a used sequence number; `repeat` when this number is already recorded and not yet folded. */
  recordSequence(marker: SequenceMarker, ctx: GapStateContext): Promise<'recorded' | 'repeat'>;
  /** Folds a source's recorded numbers into its ranges, in arrival order, and reports what fell due. */
  foldSource(source: string, watermarkMs: number, ctx: GapStateContext, options: FoldOptions): Promise<OutboxMessage[]>;
  /** The source of the oldest recorded number not yet folded. */
  oldestPendingSource(): Promise<string | undefined>;
  /** Sources with an open gap due before the watermark. */
  sourcesDue(watermarkMs: number, limit: number): Promise<string[]>;
  /**
   * Applies an accepted event to the chains it satisfies and opens, after reporting what in
   * those chains fell due by `watermarkMs` (the delivery's view, its own time included).
   */
  applyChain(event: BusinessEvent, timeMs: number, watermarkMs: number, payload: string | undefined, ctx: GapStateContext): Promise<OutboxMessage[]>;
  /** Reports up to `limit` keys' upstreams whose deadline is before the watermark. */
  sweepChains(watermarkMs: number, ctx: GapStateContext, limit: number): Promise<{ swept: number; messages: OutboxMessage[] }>;
  /** The highest watermark any writer recorded (-Infinity when none). */
  readWatermark(): Promise<number>;
  /** Raises one writer's watermark record to `ms` (never lowers it), with the wall clock `atMs` at which the writer saw it (default `ctx.now`). */
  advanceWatermark(writer: string, ms: number, ctx: GapStateContext, atMs?: number): Promise<void>;
  /**
   * The highest watermark the events raised (every writer but `tick`, the scheduler's), and the
   * wall clock at which it was written; undefined when no event has raised one.
   */
  readEventWatermark(tick: string): Promise<RecordedWatermark | undefined>;
  /** Outbox messages written at or before `writtenBeforeMs` (wall clock) and still not published. */
  pendingOutbox(writtenBeforeMs: number, limit: number): Promise<OutboxMessage[]>;
  deleteOutbox(ids: readonly string[]): Promise<void>;
}

/** A watermark record: the event time, and the wall clock at which a writer recorded it. */
export interface RecordedWatermark {
  readonly ms: number;
  readonly atMs: number;
}
