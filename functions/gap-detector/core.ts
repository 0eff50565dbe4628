/**
 * gap-detector's pure core (DESIGN §3, missing events): the chain table, the rules' settings,
 * and the decider that replay, the function's store transitions and the tests all run.
 */
export const NAME = 'gap-detector';

export { awaitKey, chainKeys, chainRoles, isUpstreamType, SUCCESSOR_OF, type ChainEvent, type ChainRoles, type SuccessorType, type UpstreamType } from './chains';
export { DEFAULT_GAP_RULES, type GapRules } from './rules';
export { initialGapState, pending, type GapState, type SlotTable } from './gap-state';
export { decide, evolve, run, type DecideContext, type GapDecision, type GapInput } from './decider';
export { findingOf, findingsOf } from './findings';
export { DEFAULT_GAP_STATE_CONFIG } from './store';
export type { SequenceOutcome } from './ranges';
export {
  exportSlot,
  exportSource,
  nextChainDeadline,
  nextGapDeadline,
  restoreSlot,
  restoreSource,
  restoreState,
  snapshotState,
  upstreamSnapshot,
  type GapSnapshot,
  type SlotSnapshot,
  type SourceSnapshot,
  type UpstreamSnapshot,
} from './snapshots';
