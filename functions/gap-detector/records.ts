import { z } from 'zod';
import { SUCCESSOR_OF, type UpstreamType } from './chains';
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

export const OutboxRecord = z.object({
  to: z.enum(['findings', 'retrigger']),
  data: z.string(),
  attributes: z.record(z.string(), z.string()),
  writtenAtMs: Ms,
});

export function sourceRecord(source: string, snapshot: SourceSnapshot, watermarkMs: number, now: number): SourceRecord {
  return {
    source,
    low: snapshot.low,
    high: snapshot.high,
    gaps: snapshot.gaps.map((g) => ({ ...g })),
    ...(snapshot.jumped === undefined ? {} : { jumped: snapshot.jumped }),
    watermarkMs: Number.isFinite(watermarkMs) ? watermarkMs : null,
    foldedAtMs: now,
    nextDueMs: nextGapDeadline(snapshot) ?? null,
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
