import type { DuplicateBasis } from '../../shared/findings';
import {
  claimRecord,
  judge,
  type Candidate,
  type DedupRecord,
  type DeduplicatorConfig,
  type Judgement,
} from './core';

export interface DedupContext {
  readonly now: number;
  readonly config: DeduplicatorConfig;
}

/** The deduplicator's state: judging and claiming happen in one atomic step. */
export interface DedupStore {
  /** Judges the candidate against the state and, when it is accepted, claims all its keys. */
  judgeAndClaim(candidate: Candidate, ctx: DedupContext): Promise<Judgement>;
}

/**
 * In-process state for tests of the deduplicator (embedded replay has its own, bounded by the
 * window: cli/replay/window-dedup.ts). Columnar: each rule's map holds a small
 * integer (the accepted event's row), and the rows live in plain arrays, so a million accepted
 * events cost three map entries and a few array slots each, not a record object per key, which
 * keeps replay's heap (and its garbage collector) small. The synchronous methods let replay
 * avoid a promise per event.
 */
export class MemoryDedupStore implements DedupStore {
  private readonly rows: Record<DuplicateBasis, Map<string, number>> = {
    id: new Map(),
    business_key: new Map(),
    content: new Map(),
  };
  private readonly eventIds: string[] = [];
  private readonly eventTimes: number[] = [];
  private readonly ingestIds: string[] = [];
  private readonly leases: number[] = [];

  private record(row: number | undefined): DedupRecord | undefined {
    if (row === undefined) return undefined;
    return {
      eventId: this.eventIds[row]!,
      eventTimeMs: this.eventTimes[row]!,
      ingestId: this.ingestIds[row]!,
      leaseUntil: this.leases[row]!,
    };
  }

  judgeAndClaimSync(candidate: Candidate, ctx: DedupContext): Judgement {
    const keys = candidate.keys;
    const existing: Array<DedupRecord | undefined> = [];
    for (let i = 0; i < keys.length; i++) existing.push(this.record(this.rows[keys[i]!.basis].get(keys[i]!.key)));
    const judgement = judge(candidate, existing, ctx);
    if (judgement.kind === 'accept') {
      const claim = claimRecord(candidate, ctx);
      const row = this.eventIds.length;
      this.eventIds.push(claim.eventId);
      this.eventTimes.push(claim.eventTimeMs);
      this.ingestIds.push(claim.ingestId);
      this.leases.push(claim.leaseUntil);
      for (let i = 0; i < keys.length; i++) this.rows[keys[i]!.basis].set(keys[i]!.key, row);
    }
    return judgement;
  }

  async judgeAndClaim(candidate: Candidate, ctx: DedupContext): Promise<Judgement> {
    return this.judgeAndClaimSync(candidate, ctx);
  }

  /** How many keys are held, over all rules. */
  get size(): number {
    return this.rows.id.size + this.rows.business_key.size + this.rows.content.size;
  }
}
