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
  /** Records that the accepted candidate was handed on. */
  markForwarded(candidate: Candidate): Promise<void>;
}

/**
 * In-process state for embedded replay and tests. One record object is shared by all keys of
 * an accepted event, which keeps a million-event replay small. The synchronous methods let
 * replay avoid a promise per event.
 */
export class MemoryDedupStore implements DedupStore {
  private readonly records = new Map<string, DedupRecord>();

  judgeAndClaimSync(candidate: Candidate, ctx: DedupContext): Judgement {
    const existing = candidate.keys.map((k) => this.records.get(k.key));
    const judgement = judge(candidate, existing, ctx);
    if (judgement.kind === 'accept') {
      const record = claimRecord(candidate, ctx);
      for (const k of candidate.keys) this.records.set(k.key, record);
    }
    return judgement;
  }

  markForwardedSync(candidate: Candidate): void {
    const first = this.records.get(candidate.keys[0]!.key);
    if (!first || first.ingestId !== candidate.ingestId) return;
    const record = { ...first, forwarded: true };
    for (const k of candidate.keys) {
      if (this.records.get(k.key) === first) this.records.set(k.key, record);
    }
  }

  async judgeAndClaim(candidate: Candidate, ctx: DedupContext): Promise<Judgement> {
    return this.judgeAndClaimSync(candidate, ctx);
  }

  async markForwarded(candidate: Candidate): Promise<void> {
    this.markForwardedSync(candidate);
  }

  get size(): number {
    return this.records.size;
  }
}
