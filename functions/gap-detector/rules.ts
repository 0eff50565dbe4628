import type { UpstreamType } from './chains';

/** The missing-event rules' settings; both the function and the replay read them. */
export interface GapRules {
  /** How long (event time) a sequence gap may stay open before it is reported. */
  readonly graceMs: number;
  /** How long (event time) each upstream type waits for its successor. */
  readonly chainDeadlinesMs: Readonly<Record<UpstreamType, number>>;
}

const MINUTE = 60_000;

export const DEFAULT_GAP_RULES: GapRules = {
  graceMs: 5 * MINUTE,
  chainDeadlinesMs: { 'card.scanned': 10 * MINUTE, 'lead.created': 15 * MINUTE, 'crm.synced': 60 * MINUTE },
};
