import type { UpstreamType } from './chains';

/** The missing-event rules' settings; both the function and the replay read them. */
export interface GapRules {
  /** How long (event time) a sequence gap may stay open before it is reported. */
  readonly graceMs: number;
  /** How long (event time) each upstream type waits for its successor. */
  readonly chainDeadlinesMs: Readonly<Record<UpstreamType, number>>;
  /**
   * How far a sequence number may lie from the numbers seen from its source before it is taken
   * for a reset or a bad number (one `sequence_jump` finding, for review) rather than the edge of
   * a gap: one wild number must not open a gap of quadrillions and make every later number late.
   */
  readonly maxSequenceJump: number;
}

const MINUTE = 60_000;

export const DEFAULT_GAP_RULES: GapRules = {
  graceMs: 5 * MINUTE,
  chainDeadlinesMs: { 'card.scanned': 10 * MINUTE, 'lead.created': 15 * MINUTE, 'crm.synced': 60 * MINUTE },
  // Hours of a busy producer's numbers lost in one run: beyond this a loss is not the likely story.
  maxSequenceJump: 1_000_000,
};
