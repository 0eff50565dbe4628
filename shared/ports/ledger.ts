import type { Outcome } from '../outcome';

/** The recorded decision of one rule about one event, and whether its messages went out. */
export interface LedgerEntry {
  readonly outcome: Outcome;
  readonly published: boolean;
}

/**
 * The outcome ledger of the checkers: the first decision about (rule, event id) is kept, so a
 * redelivered or replayed event gets the same findings and the same correction, never new ones.
 */
export interface OutcomeLedger {
  get(rule: string, eventId: string): Promise<LedgerEntry | undefined>;
  /**
   * Records `outcome` unless a decision is recorded already (test-and-set); answers the entry
   * that stands, which is the earlier one when another delivery got there first.
   */
  record(rule: string, eventId: string, entry: LedgerEntry, expireAtMs: number): Promise<LedgerEntry>;
  markPublished(rule: string, eventId: string): Promise<void>;
}
