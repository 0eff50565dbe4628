import { z } from 'zod';
import { SUCCESSOR_OF, type SuccessorType, type UpstreamType } from './chains';
import { nextChainDeadline, nextGapDeadline, upstreamSnapshot, type SlotSnapshot, type SourceSnapshot } from './snapshots';
import type { GapStateContext } from './store';

/** The stored records of the function's state: one per source, one per await key, one per outbox message. */

const Digits = z.string().regex(/^\d+$/);
const Ms = z.number().finite();

export const SourceRecord = z.object({
  source: z.string().min(1),
  low: Digits,
  high: Digits,
  gaps: z.array(z.object({ from: Digits, to: Digits, deadlineMs: Ms, order: Ms, reported: z.boolean() })),
  /** A number beyond the bound on jumps, kept apart (absent: none). */
  jumped: Digits.optional(),
  /** The watermark this source was last folded with (null: never). */
  watermarkMs: Ms.nullable(),
  foldedAtMs: Ms,
  /** The earliest deadline of an open gap (null: none): what the tick queries. */
  nextDueMs: Ms.nullable(),
  /** How many recorded numbers the last fold applied (absent: a summary written before it was kept): whether the next fold claims a lease. */
  batch: z.number().int().nonnegative().optional(),
  /**
   * The numbers of the markers the last fold read, where markers are removed after the summary
   * is committed (Bigtable): the next fold skips a marker it finds again (transitions.ts, `foldTransition`).
   */
  applied: z.array(Digits).optional(),
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
  /** Upstreams reported broken: a successor arriving within the retention closes them late. */
  reported: z.array(z.string()),
  /** The earliest deadline of a waiting upstream (null: none): what the sweep queries. */
  dueMs: Ms.nullable(),
});
export type SlotRecord = z.infer<typeof SlotRecord>;

/**
 * The chain state of one card or one lead, as the Firestore store keeps it: a lead's two awaits
 * (its CRM sync, then its follow-up) in one document, so that a `crm.synced`, which satisfies
 * the one and opens the other, reads and writes one document instead of two (issue 21: Firestore
 * bills "the number of documents you read, write, and delete", https://cloud.google.com/firestore/pricing,
 * so a get of two documents is two reads and a commit of two is two writes). `dueMs`: the earliest
 * of its slots', what the sweep queries.
 */
export const ChainDocument = z.object({
  slots: z.array(SlotRecord),
  dueMs: Ms.nullable(),
});
export type ChainDocument = z.infer<typeof ChainDocument>;

/** A stored chain document, or one written before they were grouped: one await key's record at the top level. */
export const StoredChainDocument = z.union([ChainDocument, SlotRecord]);

/**
 * The document an await key is kept in, named by a key: a lead's follow-up await goes with its
 * CRM-sync await (`crm.synced|<lead>`), every other key is its own. A document is named after
 * its first key so that one written before the grouping (one per key, named by the key) is read
 * as that key's group.
 */
const DOCUMENT_OF: Readonly<Record<SuccessorType, SuccessorType>> = {
  'lead.created': 'lead.created',
  'crm.synced': 'crm.synced',
  'followup.sent': 'crm.synced',
};

export function chainDocumentKey(key: string): string {
  const bar = key.indexOf('|');
  const type = key.slice(0, bar);
  if (bar < 0 || !Object.prototype.hasOwnProperty.call(DOCUMENT_OF, type)) throw new Error(`not an await key: ${key}`);
  return `${DOCUMENT_OF[type as SuccessorType]}${key.slice(bar)}`;
}

/** The slots of a stored chain document (either layout). */
export function chainSlots(stored: z.infer<typeof StoredChainDocument>): SlotRecord[] {
  return 'slots' in stored ? stored.slots : [stored];
}

/**
 * A document's slots after a step: `changes` applied (a `null` drops its key), new keys after
 * the ones held. `undefined` when nothing changed, `null` when no slot is left (delete it).
 */
export function changedChainDocument(held: readonly SlotRecord[], changes: ReadonlyMap<string, SlotRecord | null>): ChainDocument | null | undefined {
  if (changes.size === 0) return undefined;
  const slots: SlotRecord[] = [];
  for (const s of held) {
    const next = changes.get(s.key);
    if (next === undefined) slots.push(s);
    else if (next !== null) slots.push(next);
  }
  for (const [key, next] of changes) if (next !== null && !held.some((s) => s.key === key)) slots.push(next);
  return slots.length === 0 ? null : chainDocumentOf(slots);
}

/** A document of these slots: due at the earliest of their due times. */
export function chainDocumentOf(slots: SlotRecord[]): ChainDocument {
  let dueMs: number | null = null;
  for (const s of slots) if (s.dueMs !== null && (dueMs === null || s.dueMs < dueMs)) dueMs = s.dueMs;
  return { slots, dueMs };
}

export const OutboxRecord = z.object({
  to: z.enum(['findings', 'retrigger']),
  data: z.string(),
  attributes: z.record(z.string(), z.string()),
  writtenAtMs: Ms,
});

export function sourceRecord(source: string, snapshot: SourceSnapshot, watermarkMs: number, now: number, batch: number): SourceRecord {
  return {
    source,
    low: snapshot.low,
    high: snapshot.high,
    gaps: snapshot.gaps.map((g) => ({ ...g })),
    ...(snapshot.jumped === undefined ? {} : { jumped: snapshot.jumped }),
    watermarkMs: Number.isFinite(watermarkMs) ? watermarkMs : null,
    foldedAtMs: now,
    nextDueMs: nextGapDeadline(snapshot) ?? null,
    batch,
  };
}

export function slotRecord(key: string, s: SlotSnapshot): SlotRecord {
  return {
    key,
    seen: s.seen,
    waiting: s.waiting.map(upstreamSnapshot),
    reported: [...s.reported],
    dueMs: nextChainDeadline(s) ?? null,
  };
}

/** A waiting chain's TTL runs past its deadline and the allowed lateness by this much, so a late tick still reports it. */
export const CHAIN_TTL_MARGIN_MS = 60 * 60_000;

/** When a chain document may be deleted: when its last slot may. */
export function chainDocumentExpiry(doc: ChainDocument, ctx: GapStateContext): number {
  let latest = Number.NEGATIVE_INFINITY;
  for (const s of doc.slots) latest = Math.max(latest, slotExpiry(s, ctx));
  return latest;
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
