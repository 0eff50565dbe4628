import { z } from 'zod';
import type { BusinessEvent } from '../../shared/events/envelope';
import { findingAttributes, type Finding } from '../../shared/findings';
import { derivedId } from '../../shared/ids';
import { eventAttributes } from '../../shared/publish';
import { TOPICS } from '../../shared/topology';
import {
  chainKeys,
  DEFAULT_GAP_RULES,
  GapDetectorCore,
  lateFinding,
  nextChainDeadline,
  nextGapDeadline,
  overdueFinding,
  SUCCESSOR_OF,
  type GapRules,
  type Overdue,
  type SlotSnapshot,
  type SourceSnapshot,
  type UpstreamType,
  upstreamSnapshot,
} from './core';

/** What the function's state needs beyond the rules. */
export interface GapStateConfig {
  readonly rules: GapRules;
  /** How far behind the wall clock a tick lets the watermark trail (quiet streams still report). */
  readonly allowedLatenessMs: number;
  /** How long state outlives its last use: the Firestore TTL of sources, seen successors, markers. */
  readonly retentionMs: number;
  /** The most sequence ranges one source keeps (the Firestore document must stay small). */
  readonly maxRangesPerSource: number;
  /** Republish the upstream event of a broken chain to events-retrigger (off by default). */
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

/** A waiting chain's TTL runs past its deadline and the allowed lateness by this much, so a late tick still reports it. */
export const CHAIN_TTL_MARGIN_MS = 60 * MINUTE;

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

/** A message to publish, written in the same atomic step as the state change that caused it. */
export interface OutboxMessage {
  readonly id: string;
  readonly topic: string;
  readonly data: string;
  readonly attributes: Record<string, string>;
}

const Digits = z.string().regex(/^\d+$/);
const Ms = z.number().finite();

export const SourceRecord = z.object({
  source: z.string().min(1),
  low: Digits,
  high: Digits,
  gaps: z.array(z.object({ from: Digits, to: Digits, deadlineMs: Ms, order: Ms, reported: z.boolean() })),
  /** The watermark this source was last folded with (null: never). */
  watermarkMs: Ms.nullable(),
  foldedAtMs: Ms,
  /** The earliest deadline of an open gap (null: none): what the tick queries. */
  nextDueMs: Ms.nullable(),
});
export type SourceRecord = z.infer<typeof SourceRecord>;

const UpstreamTypeSchema = z.enum(Object.keys(SUCCESSOR_OF) as [UpstreamType, ...UpstreamType[]]);

export const SlotRecord = z.object({
  key: z.string().min(1),
  seen: z.boolean(),
  waiting: z.array(
    z.object({
      eventId: z.string(),
      type: UpstreamTypeSchema,
      source: z.string(),
      timeMs: Ms,
      deadlineMs: Ms,
      order: Ms,
      payload: z.string().optional(),
    }),
  ),
  reported: z.array(z.string()),
  /** The earliest deadline of a waiting upstream (null: none): what the sweep queries. */
  dueMs: Ms.nullable(),
});
export type SlotRecord = z.infer<typeof SlotRecord>;

export const OutboxRecord = z.object({
  topic: z.string().min(1),
  data: z.string(),
  attributes: z.record(z.string(), z.string()),
  writtenAtMs: Ms,
});

export interface FoldOptions {
  /** Fold even if another fold of this source ran less than `minIntervalMs` ago (the tick). */
  readonly force: boolean;
  readonly minIntervalMs: number;
}

/**
 * The function's state. Each method is one atomic step that runs the core on the slice of
 * state it touches; messages the step causes are written to an outbox in the same step, and the
 * caller publishes them and then deletes them, so a crash in between publishes them later
 * (with the same ids) instead of never.
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
  /** Raises one writer's watermark record to `ms` (never lowers it). */
  advanceWatermark(writer: string, ms: number, ctx: GapStateContext): Promise<void>;
  /** Outbox messages written at or before `writtenBeforeMs` (wall clock) and still not published. */
  pendingOutbox(writtenBeforeMs: number, limit: number): Promise<OutboxMessage[]>;
  deleteOutbox(ids: readonly string[]): Promise<void>;
}

export function findingMessage(finding: Finding, id: string): OutboxMessage {
  return { id, topic: TOPICS.findings, data: JSON.stringify(finding), attributes: findingAttributes(finding, id) };
}

function overdueMessages(o: Overdue, ctx: GapStateContext): OutboxMessage[] {
  if (o.kind === 'gap') return [findingMessage(overdueFinding(o), derivedId('gap', o.source, o.from.toString(), o.to.toString()))];
  const messages = [findingMessage(overdueFinding(o), derivedId('chain_broken', o.eventId, o.expectedType))];
  if (ctx.config.republish && o.payload !== undefined) {
    messages.push({
      id: derivedId('retrigger', o.eventId, o.expectedType),
      topic: TOPICS.retrigger,
      data: o.payload,
      attributes: eventAttributes({ type: o.type, source: o.source, id: o.eventId }, { retrigger: 'chain_broken', expected_type: o.expectedType }),
    });
  }
  return messages;
}

/** Whether a fold may be skipped before reading the markers: another ran moments ago. */
export function foldThrottled(record: SourceRecord | undefined, ctx: GapStateContext, options: FoldOptions): boolean {
  return !options.force && record !== undefined && record.foldedAtMs > ctx.now - options.minIntervalMs;
}

/**
 * One fold of a source: the recorded numbers in arrival order, each after the watermark has
 * moved to its time (as in replay), then the watermark the caller read. `undefined` when there
 * is nothing to do.
 */
export function foldTransition(
  source: string,
  record: SourceRecord | undefined,
  markers: readonly PendingMarker[],
  watermarkMs: number,
  ctx: GapStateContext,
  /** More recorded numbers wait beyond this batch: the outside watermark must not pass them by. */
  morePending = false,
): { record: SourceRecord; outbox: OutboxMessage[] } | undefined {
  const due = record?.nextDueMs;
  if (markers.length === 0 && (due === undefined || due === null || due >= watermarkMs)) return undefined;
  const core = new GapDetectorCore(ctx.config.rules, { rememberReported: true });
  if (record) core.restoreSource(source, record);
  const outbox: OutboxMessage[] = [];
  const report = (list: readonly Overdue[]) => {
    for (const o of list) outbox.push(...overdueMessages(o, ctx));
  };
  let w = record?.watermarkMs ?? Number.NEGATIVE_INFINITY;
  for (const m of markers) {
    const seen = Math.max(m.timeMs, m.watermarkMs);
    if (seen > w) {
      w = seen;
      report(core.overdue(w));
    }
    if (core.observeSequence(source, BigInt(m.seq), m.timeMs, m.order) === 'late') {
      outbox.push(findingMessage(lateFinding({ id: m.eventId, type: m.type, source }), derivedId('late', source, m.seq, m.eventId)));
    }
  }
  // The outside watermark (a tick's, another instance's) applies only once every recorded number
  // is folded in: a number still waiting in the next batch is not missing. And what this batch
  // revealed may be overdue already: report it now, not at the next advance.
  if (!morePending && watermarkMs > w) w = watermarkMs;
  report(core.overdue(w));
  report(core.bound(source, w - ctx.config.retentionMs, ctx.config.maxRangesPerSource));
  const snapshot = core.exportSource(source)!;
  return { record: sourceRecord(source, snapshot, w, ctx.now), outbox };
}

function sourceRecord(source: string, snapshot: SourceSnapshot, watermarkMs: number, now: number): SourceRecord {
  return {
    source,
    low: snapshot.low,
    high: snapshot.high,
    gaps: snapshot.gaps.map((g) => ({ ...g })),
    watermarkMs: Number.isFinite(watermarkMs) ? watermarkMs : null,
    foldedAtMs: now,
    nextDueMs: nextGapDeadline(snapshot) ?? null,
  };
}

/**
 * An accepted event against the one or two keys it touches, watermark first as in replay:
 * what in those keys fell due by `watermarkMs` is reported before the event applies (so a
 * successor that comes after its deadline does not rescue the chain). Returns the keys whose
 * record changed (the new record, or `null` where the key holds nothing any more) and the
 * messages to publish.
 */
export function chainTransition(
  slots: ReadonlyMap<string, SlotRecord | undefined>,
  event: BusinessEvent,
  timeMs: number,
  watermarkMs: number,
  payload: string | undefined,
  ctx: GapStateContext,
): { changes: Map<string, SlotRecord | null>; outbox: OutboxMessage[] } {
  const core = new GapDetectorCore(ctx.config.rules, { rememberReported: true });
  for (const [key, record] of slots) if (record) core.restoreSlot(key, record);
  const outbox = core.overdue(Math.max(watermarkMs, timeMs)).flatMap((o) => overdueMessages(o, ctx));
  core.observeChain(event, timeMs, ctx.now, undefined, payload);
  return { changes: changedSlots(core, slots), outbox };
}

/** Reports one key's upstreams that are due, with their retrigger messages if configured. */
export function sweepTransition(
  record: SlotRecord,
  watermarkMs: number,
  ctx: GapStateContext,
): { record: SlotRecord | null; outbox: OutboxMessage[]; changed: boolean } {
  const core = new GapDetectorCore(ctx.config.rules, { rememberReported: true });
  core.restoreSlot(record.key, record);
  const outbox = core.overdue(watermarkMs).flatMap((o) => overdueMessages(o, ctx));
  const changes = changedSlots(core, new Map([[record.key, record]]));
  const next = changes.get(record.key);
  return next === undefined ? { record, outbox, changed: false } : { record: next, outbox, changed: true };
}

function changedSlots(core: GapDetectorCore, before: ReadonlyMap<string, SlotRecord | undefined>): Map<string, SlotRecord | null> {
  const changes = new Map<string, SlotRecord | null>();
  for (const [key, previous] of before) {
    const snapshot = core.exportSlot(key);
    const next = snapshot === undefined || isEmpty(snapshot) ? null : slotRecord(key, snapshot);
    const same = next === null ? previous === undefined : previous !== undefined && JSON.stringify(slotRecord(key, previous)) === JSON.stringify(next);
    if (!same) changes.set(key, next);
  }
  return changes;
}

function isEmpty(s: SlotSnapshot): boolean {
  return !s.seen && s.waiting.length === 0 && s.reported.length === 0;
}

function slotRecord(key: string, s: SlotSnapshot): SlotRecord {
  return {
    key,
    seen: s.seen,
    waiting: s.waiting.map(upstreamSnapshot),
    reported: [...s.reported],
    dueMs: nextChainDeadline(s) ?? null,
  };
}

/** When a source's state, or a marker, may be deleted (the Firestore TTL field). */
export function retentionExpiry(ctx: GapStateContext): number {
  return ctx.now + ctx.config.retentionMs;
}

/**
 * When a key's chain state may be deleted: a remembered successor or reported upstream after
 * the retention; a waiting upstream once its deadline plus the allowed lateness has passed on
 * the wall clock (when a tick has reported it), with a margin.
 */
export function slotExpiry(record: SlotRecord, ctx: GapStateContext): number {
  if (record.seen || record.reported.length > 0) return retentionExpiry(ctx);
  let latest = ctx.now;
  for (const u of record.waiting) latest = Math.max(latest, u.deadlineMs + ctx.config.allowedLatenessMs);
  return latest + CHAIN_TTL_MARGIN_MS;
}

/**
 * In-process state for contract tests: the same steps and transitions as the Firestore store,
 * in maps. Markers keep insertion order, which is their arrival order.
 */
export class MemoryGapStore implements GapStore {
  readonly markers = new Map<string, PendingMarker>();
  readonly sources = new Map<string, SourceRecord>();
  readonly slots = new Map<string, SlotRecord>();
  readonly watermarks = new Map<string, number>();
  readonly outbox = new Map<string, OutboxMessage & { readonly writtenAtMs: number }>();
  private arrivals = 0;

  async recordSequence(marker: SequenceMarker): Promise<'recorded' | 'repeat'> {
    const id = JSON.stringify([marker.source, marker.seq]);
    if (this.markers.has(id)) return 'repeat';
    this.markers.set(id, { ...marker, order: ++this.arrivals });
    return 'recorded';
  }

  async foldSource(source: string, watermarkMs: number, ctx: GapStateContext, options: FoldOptions): Promise<OutboxMessage[]> {
    const record = this.sources.get(source);
    if (foldThrottled(record, ctx, options)) return [];
    const pending = [...this.markers].filter(([, m]) => m.source === source);
    const result = foldTransition(source, record, pending.map(([, m]) => m), watermarkMs, ctx);
    if (result === undefined) return [];
    this.sources.set(source, result.record);
    for (const [id] of pending) this.markers.delete(id);
    return this.write(result.outbox, ctx);
  }

  async oldestPendingSource(): Promise<string | undefined> {
    for (const m of this.markers.values()) return m.source;
    return undefined;
  }

  async sourcesDue(watermarkMs: number, limit: number): Promise<string[]> {
    return [...this.sources.values()]
      .filter((r) => r.nextDueMs !== null && r.nextDueMs < watermarkMs)
      .sort((a, b) => a.nextDueMs! - b.nextDueMs!)
      .slice(0, limit)
      .map((r) => r.source);
  }

  async applyChain(event: BusinessEvent, timeMs: number, watermarkMs: number, payload: string | undefined, ctx: GapStateContext): Promise<OutboxMessage[]> {
    const keys = chainKeys(event);
    const { changes, outbox } = chainTransition(new Map(keys.map((k) => [k, this.slots.get(k)])), event, timeMs, watermarkMs, payload, ctx);
    for (const [key, record] of changes) {
      if (record === null) this.slots.delete(key);
      else this.slots.set(key, record);
    }
    return this.write(outbox, ctx);
  }

  async sweepChains(watermarkMs: number, ctx: GapStateContext, limit: number): Promise<{ swept: number; messages: OutboxMessage[] }> {
    const due = [...this.slots.values()].filter((r) => r.dueMs !== null && r.dueMs < watermarkMs).sort((a, b) => a.dueMs! - b.dueMs!).slice(0, limit);
    const messages: OutboxMessage[] = [];
    for (const record of due) {
      const result = sweepTransition(record, watermarkMs, ctx);
      if (result.record === null) this.slots.delete(record.key);
      else this.slots.set(record.key, result.record);
      messages.push(...this.write(result.outbox, ctx));
    }
    return { swept: due.length, messages };
  }

  async readWatermark(): Promise<number> {
    return Math.max(Number.NEGATIVE_INFINITY, ...this.watermarks.values());
  }

  async advanceWatermark(writer: string, ms: number): Promise<void> {
    this.watermarks.set(writer, Math.max(ms, this.watermarks.get(writer) ?? Number.NEGATIVE_INFINITY));
  }

  async pendingOutbox(writtenBeforeMs: number, limit: number): Promise<OutboxMessage[]> {
    return [...this.outbox.values()]
      .filter((m) => m.writtenAtMs <= writtenBeforeMs)
      .slice(0, limit)
      .map(({ writtenAtMs: _, ...m }) => m);
  }

  async deleteOutbox(ids: readonly string[]): Promise<void> {
    for (const id of ids) this.outbox.delete(id);
  }

  private write(messages: readonly OutboxMessage[], ctx: GapStateContext): OutboxMessage[] {
    for (const m of messages) this.outbox.set(m.id, { ...m, writtenAtMs: ctx.now });
    return [...messages];
  }
}
