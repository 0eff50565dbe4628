import type { BusinessEvent } from '../../shared/events/envelope';
import { businessKey, contentKey } from '../../shared/events/keys';
import type { DuplicateBasis, Finding } from '../../shared/findings';

export const NAME = 'deduplicator';

export interface DeduplicatorConfig {
  /** How far apart (event time) two events may be and still be duplicates: default 7 days. */
  readonly windowMs: number;
  /**
   * How long a claim of an in-flight delivery holds before a redelivery may take it over. Shorter
   * than the retry policy's first two backoffs (10 s + 20 s), so that the claim of an instance that
   * died is taken over by the third delivery attempt, not the fifth and last (120 s was: any further
   * failure then dead-lettered the event; the fault-injection suite lost three that way).
   */
  readonly leaseMs: number;
}

export const DEFAULT_DEDUP_CONFIG: DeduplicatorConfig = { windowMs: 7 * 24 * 3_600_000, leaseMs: 25_000 };

/** What the state remembers of an accepted event, under each of its keys. */
export interface DedupRecord {
  readonly eventId: string;
  readonly eventTimeMs: number;
  /** The delivery that was accepted (the events-raw message id, or the replay line). */
  readonly ingestId: string;
  /**
   * Until when the claim belongs to the delivery that made it. The state keeps no mark of the
   * publish that follows the claim (it cost a write per event): past the lease, a redelivery of
   * the accepted delivery cannot tell a publish that happened from one that did not, so it takes
   * the claim over and publishes again, the same event under the same ingest id.
   */
  readonly leaseUntil: number;
}

/** A key of an event under one rule; keys of different rules never meet (each store keeps them apart). */
export interface DedupKey {
  readonly basis: DuplicateBasis;
  readonly key: string;
}

/** The keys of an event in the order the rules check them: id, business key, content (DESIGN §3). */
export function dedupKeys(event: BusinessEvent, canonicalTime?: string): DedupKey[] {
  const keys: DedupKey[] = [{ basis: 'id', key: event.id }];
  const bk = businessKey(event);
  if (bk !== undefined) keys.push({ basis: 'business_key', key: bk });
  keys.push({ basis: 'content', key: contentKey(event, canonicalTime) });
  return keys;
}

export interface Candidate {
  readonly event: BusinessEvent;
  readonly timeMs: number;
  readonly ingestId: string;
  readonly keys: readonly DedupKey[];
}

export type Judgement =
  /**
   * A first arrival: claim every key, then forward. `takeover`: a redelivery of the accepted
   * delivery re-claims its own claim once the lease is over, and forwards it again (whether or not
   * the first forward happened: the copy on events-unique then carries the same event id and
   * ingest id, which every consumer keys on).
   */
  | { readonly kind: 'accept'; readonly takeover: boolean }
  | { readonly kind: 'duplicate'; readonly basis: DuplicateBasis; readonly duplicateOf: string }
  /** Another delivery of the same message holds the claim, within its lease: retry later. */
  | { readonly kind: 'in_flight' };

/**
 * The duplicate rules. `existing[i]` is what the state holds under `candidate.keys[i]`. The
 * first key that names another accepted event within the window decides, in rule order.
 */
export function judge(
  candidate: Candidate,
  existing: ReadonlyArray<DedupRecord | undefined>,
  ctx: { readonly now: number; readonly config: DeduplicatorConfig },
): Judgement {
  for (let i = 0; i < candidate.keys.length; i++) {
    const record = existing[i];
    if (record === undefined) continue;
    if (Math.abs(candidate.timeMs - record.eventTimeMs) > ctx.config.windowMs) continue;
    const { basis } = candidate.keys[i]!;
    if (record.ingestId === candidate.ingestId && record.eventId === candidate.event.id) {
      if (record.leaseUntil > ctx.now) return { kind: 'in_flight' };
      return { kind: 'accept', takeover: true };
    }
    return { kind: 'duplicate', basis, duplicateOf: record.eventId };
  }
  return { kind: 'accept', takeover: false };
}

/**
 * What a store that is atomic per key only (functions/deduplicator/bigtable-state.ts) found under
 * one key it could not claim: a claim of another delivery, `committed` (accepted), `pending` (its
 * delivery has claimed and not yet committed: it may still turn out a duplicate), or `void` (a
 * pending claim whose delivery has been aborted: it counts for nothing).
 */
export interface HeldKey {
  readonly record: DedupRecord;
  readonly state: 'committed' | 'pending' | 'void';
}

export type KeyDecision =
  /** Claim the key over what it holds (on the condition that it still holds it). */
  | { readonly kind: 'take'; readonly takeover: boolean }
  /** Another delivery's claim is in flight: it may still be released, so look again shortly. */
  | { readonly kind: 'wait' }
  | Extract<Judgement, { kind: 'duplicate' } | { kind: 'in_flight' }>;

/**
 * The rules for one key of a candidate that is claimed key by key in rule order, every key before
 * `index` already claimed (free, or taken over): `judge` over the whole list would decide at this
 * key, since the keys before it count for nothing. A committed record is judged as `judge` judges
 * it. A pending one is never counted as final: within its lease its delivery may still release
 * it (a duplicate of something else), so another event waits; past its lease its delivery died and
 * has not come back, so it is taken over (as a void one is). One difference from `judge`: this
 * delivery's own claim past its lease is taken over and the keys after it are still judged, where
 * `judge` stops at it; the two agree wherever a delivery's keys were claimed together (a claim cut
 * short by a crash may have left later keys to another event meanwhile).
 */
export function judgeHeldKey(
  candidate: Candidate,
  index: number,
  held: HeldKey,
  ctx: { readonly now: number; readonly config: DeduplicatorConfig },
): KeyDecision {
  const { record, state } = held;
  const own = record.ingestId === candidate.ingestId && record.eventId === candidate.event.id;
  switch (state) {
    case 'void':
      return { kind: 'take', takeover: false };
    case 'pending':
      if (record.leaseUntil <= ctx.now) return { kind: 'take', takeover: own };
      return own ? { kind: 'in_flight' } : { kind: 'wait' };
    case 'committed': {
      const existing = candidate.keys.map((_, i) => (i === index ? record : undefined));
      const judgement = judge(candidate, existing, ctx);
      return judgement.kind === 'accept' ? { kind: 'take', takeover: judgement.takeover } : judgement;
    }
    default: {
      const never: never = state;
      throw new Error(`unhandled key state ${String(never)}`);
    }
  }
}

/** The record an accepted candidate writes under each of its keys. */
export function claimRecord(candidate: Candidate, ctx: { readonly now: number; readonly config: DeduplicatorConfig }): DedupRecord {
  return {
    eventId: candidate.event.id,
    eventTimeMs: candidate.timeMs,
    ingestId: candidate.ingestId,
    leaseUntil: ctx.now + ctx.config.leaseMs,
  };
}

/** When the state of an accepted event may be deleted (the Firestore TTL field). */
export function expiresAt(candidate: Candidate, ctx: { readonly now: number; readonly config: DeduplicatorConfig }): number {
  return Math.max(ctx.now, candidate.timeMs) + ctx.config.windowMs;
}

export function duplicateFinding(event: Pick<BusinessEvent, 'id' | 'type' | 'source'>, basis: DuplicateBasis, duplicateOf: string): Finding {
  return {
    kind: 'duplicate',
    action: 'dropped',
    event_id: event.id,
    type: event.type,
    source: event.source,
    duplicate_of: duplicateOf,
    basis,
  };
}
