import type { BusinessEvent } from '../../shared/events/envelope';
import { eventAttributes } from '../../shared/attributes';
import { findingAttributes, type Finding } from '../../shared/findings';
import { derivedId } from '../../shared/ids';
import { run, type DecideContext, type GapDecision, type GapInput } from './decider';
import { findingOf } from './findings';
import { initialGapState, type GapState } from './gap-state';
import { slotRecord, sourceRecord, type SlotRecord, type SourceRecord } from './records';
import { exportSlot, exportSource, restoreSlot, restoreSource, type SlotSnapshot } from './snapshots';
import type { FoldOptions, GapStateContext, OutboxMessage, PendingMarker } from './store';

/**
 * The function's state transitions: restore the slice of state a step touches from its
 * records, run the decider on it, and return the new records with the messages to publish.
 * Pure: both stores (memory and Firestore) call these and only do the reading and writing.
 */

function decideContext(ctx: GapStateContext): DecideContext {
  // Pub/Sub delivers at least once: an upstream already reported that comes again is a redelivery.
  return { rules: ctx.config.rules, redeliveries: true };
}

export function findingMessage(finding: Finding, id: string): OutboxMessage {
  return { id, to: 'findings', data: JSON.stringify(finding), attributes: findingAttributes(finding, id) };
}

/** The messages one decision causes, each with an id that a redelivery or a retried step reproduces. */
function messagesOf(d: GapDecision, ctx: GapStateContext): OutboxMessage[] {
  const finding = findingOf(d);
  if (finding === undefined) return [];
  switch (d.kind) {
    case 'gap_reported':
      return [findingMessage(finding, derivedId('gap', d.source, d.from.toString(), d.to.toString()))];
    case 'chain_reported': {
      const messages = [findingMessage(finding, derivedId('chain_broken', d.eventId, d.expectedType))];
      if (ctx.config.republish && d.payload !== undefined) {
        messages.push({
          id: derivedId('retrigger', d.eventId, d.expectedType),
          to: 'retrigger',
          data: d.payload,
          attributes: eventAttributes({ type: d.type, source: d.source, id: d.eventId }, { retrigger: 'chain_broken', expected_type: d.expectedType }),
        });
      }
      return messages;
    }
    case 'number_counted':
      return [findingMessage(finding, derivedId(d.outcome === 'jumped' ? 'sequence_jump' : 'late', d.source, d.seq.toString(), d.eventId))];
    case 'chain_closed_late':
      return [findingMessage(finding, derivedId('late', d.key, d.upstreamId, d.eventId))];
    default:
      throw new Error(`a ${d.kind} decision makes no finding`);
  }
}

function apply(state: GapState, input: GapInput, ctx: GapStateContext, outbox: OutboxMessage[]): void {
  for (const d of run(state, input, decideContext(ctx))) outbox.push(...messagesOf(d, ctx));
}

/** Whether a fold may be skipped before reading the markers: another ran moments ago. */
export function foldThrottled(record: SourceRecord | undefined, ctx: GapStateContext, options: FoldOptions): boolean {
  return !options.force && record !== undefined && record.foldedAtMs > ctx.now - options.minIntervalMs;
}

/**
 * The fewest recorded numbers a source's last fold applied for the next fold to claim the source
 * (a lease: one write) before reading its numbers. The lease keeps concurrent folds of a busy
 * source from each reading the same batch (a billed read per number) only for one of them to
 * commit; Firestore bills a write as three reads (tools/cost/prices.json: $0.09 and $0.03 per
 * 100K, https://firebase.google.com/docs/firestore/standard-edition), so it pays where a race is
 * likely and its batch large: a busy producer's (paced to a fold per interval, hundreds of numbers
 * each at 2M/h). A quiet source's fold, a few numbers and hardly ever raced, commits without it
 * (its commit is conditional on the summary as read all the same): one summary write instead of
 * two (issue 21: 0.2 summary writes an event on the demo stream).
 */
export const FOLD_LEASE_MIN_BATCH = 30;

/** Whether a fold claims the source before reading its numbers (see FOLD_LEASE_MIN_BATCH); a summary that does not say is leased, as before. */
export function foldLeased(record: SourceRecord): boolean {
  return (record.batch ?? FOLD_LEASE_MIN_BATCH) >= FOLD_LEASE_MIN_BATCH;
}

/**
 * One fold of a source: the recorded numbers in arrival order, each where its delivery saw the
 * watermark, then the watermark the caller read, then the bound on the source's size.
 * `undefined` when there is nothing to do.
 *
 * `keepApplied`: the markers are removed after the summary is committed, not with it (Bigtable),
 * so a crash in between leaves them to be read again. Applying a number twice is not always
 * harmless: most outcomes come out `repeat` the second time, but a number that `jumped` comes
 * out `jumped` again when a later number of the batch jumped elsewhere, and one counted before a
 * later number `rebased` the source lies outside the new range and `jumped` (a new finding).
 * So the summary keeps the numbers of the markers this fold read (`applied`), and the next fold
 * skips markers with those numbers (a marker can only be there again if its removal did not
 * happen: a delivery of the same number while it is there is a `repeat` of the log).
 */
export function foldTransition(
  source: string,
  record: SourceRecord | undefined,
  markers: readonly PendingMarker[],
  watermarkMs: number,
  ctx: GapStateContext,
  /** More recorded numbers wait beyond this batch: the outside watermark must not pass them by. */
  morePending = false,
  keepApplied = false,
): { record: SourceRecord; outbox: OutboxMessage[] } | undefined {
  const skip = new Set(record?.applied);
  const fresh = skip.size === 0 ? markers : markers.filter((m) => !skip.has(m.seq));
  const due = record?.nextDueMs;
  if (fresh.length === 0 && (due === undefined || due === null || due >= watermarkMs)) return undefined;
  const state = initialGapState(record?.watermarkMs ?? Number.NEGATIVE_INFINITY);
  if (record) restoreSource(state, source, record);
  const outbox: OutboxMessage[] = [];
  for (const m of fresh) {
    apply(state, { kind: 'sequence', source, seq: BigInt(m.seq), eventId: m.eventId, type: m.type, timeMs: m.timeMs, order: m.order, watermarkMs: m.watermarkMs }, ctx, outbox);
  }
  // The outside watermark (a tick's, another instance's) applies only once every recorded number
  // is folded in: a number still waiting in the next batch is not missing.
  if (!morePending) apply(state, { kind: 'advance', watermarkMs }, ctx, outbox);
  apply(state, { kind: 'bound', source, forgetBeforeMs: state.watermarkMs - ctx.config.retentionMs, maxRanges: ctx.config.maxRangesPerSource }, ctx, outbox);
  const next = sourceRecord(source, exportSource(state, source)!, state.watermarkMs, ctx.now, fresh.length);
  return { record: keepApplied ? { ...next, applied: markers.map((m) => m.seq) } : next, outbox };
}

/**
 * An accepted event against the one or two keys it touches. Returns the keys whose record
 * changed (the new record, or `null` where the key holds nothing any more) and the messages to
 * publish.
 */
export function chainTransition(
  slots: ReadonlyMap<string, SlotRecord | undefined>,
  event: BusinessEvent,
  timeMs: number,
  watermarkMs: number,
  payload: string | undefined,
  ctx: GapStateContext,
): { changes: Map<string, SlotRecord | null>; outbox: OutboxMessage[] } {
  const state = initialGapState();
  for (const [key, record] of slots) if (record) restoreSlot(state, key, record);
  const outbox: OutboxMessage[] = [];
  // The wall clock orders upstreams that share a deadline: the function has no arrival counter.
  apply(state, { kind: 'chain', event, timeMs, order: ctx.now, watermarkMs, payload }, ctx, outbox);
  return { changes: changedSlots(state, slots), outbox };
}

/** Reports one key's upstreams that are due, with their retrigger messages if configured. */
export function sweepTransition(
  record: SlotRecord,
  watermarkMs: number,
  ctx: GapStateContext,
): { record: SlotRecord | null; outbox: OutboxMessage[]; changed: boolean } {
  const state = initialGapState();
  restoreSlot(state, record.key, record);
  const outbox: OutboxMessage[] = [];
  apply(state, { kind: 'advance', watermarkMs }, ctx, outbox);
  const next = changedSlots(state, new Map([[record.key, record]])).get(record.key);
  return next === undefined ? { record, outbox, changed: false } : { record: next, outbox, changed: true };
}

function changedSlots(state: GapState, before: ReadonlyMap<string, SlotRecord | undefined>): Map<string, SlotRecord | null> {
  const changes = new Map<string, SlotRecord | null>();
  for (const [key, previous] of before) {
    const snapshot = exportSlot(state, key);
    const next = snapshot === undefined || isEmpty(snapshot) ? null : slotRecord(key, snapshot);
    const same = next === null ? previous === undefined : previous !== undefined && JSON.stringify(slotRecord(key, previous)) === JSON.stringify(next);
    if (!same) changes.set(key, next);
  }
  return changes;
}

function isEmpty(s: SlotSnapshot): boolean {
  return !s.seen && s.waiting.length === 0 && s.reported.length === 0;
}
