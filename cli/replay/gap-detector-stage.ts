import { DEFAULT_GAP_RULES, DEFAULT_GAP_STATE_CONFIG, findingOf, initialGapState, NAME, pending, run, type DecideContext, type GapInput, type GapRules } from '../../functions/gap-detector/core';
import { RetainedSlots } from './chain-slots';
import type { ReplayEvent, ReplayStage, StageOutput } from './stage';

/**
 * The gap-detector inside `event-recovery replay`: the same decider as the function, fed by the
 * engine in the order DESIGN §7 fixes (the watermark moves before the event that moved it,
 * every valid event counts its sequence number, an accepted one takes part in chains). State
 * is in memory: sequence ranges per source, chains per key, one deadline schedule, so a step
 * costs O(log n) and nothing grows with the size of a jump. Settled chain keys are forgotten
 * after `retentionMs` of event time, as the function's records expire, and settled ones are kept as
 * digests (see RetainedSlots), so the chain state is bounded by the retention, not the log.
 */
export function gapDetectorStage(rules: GapRules = DEFAULT_GAP_RULES, retentionMs = DEFAULT_GAP_STATE_CONFIG.retentionMs): ReplayStage {
  const slots = new RetainedSlots(retentionMs, (): number => state.watermarkMs);
  const state = initialGapState(Number.NEGATIVE_INFINITY, slots);
  // A replayed line is never delivered twice.
  const ctx: DecideContext = { rules, redeliveries: false };
  let arrival = 0;

  const apply = (input: GapInput, out: StageOutput) => {
    for (const d of run(state, input, ctx)) {
      slots.note(state, d);
      const f = findingOf(d);
      if (f !== undefined) out.finding(f);
    }
  };

  return {
    name: NAME,
    onWatermark(watermarkMs: number, out: StageOutput) {
      apply({ kind: 'advance', watermarkMs }, out);
      slots.forget(state);
    },
    onValid(e: ReplayEvent, out: StageOutput) {
      arrival++;
      const { sequence, source, id, type } = e;
      if (sequence === undefined) return;
      apply({ kind: 'sequence', source, seq: BigInt(sequence), eventId: id, type, timeMs: e.timeMs, order: arrival, watermarkMs: state.watermarkMs }, out);
    },
    onAccepted(e: ReplayEvent, out: StageOutput) {
      // onValid of the same event has just counted it: `arrival` is its arrival number.
      apply({ kind: 'chain', event: e.chain, timeMs: e.timeMs, order: arrival, watermarkMs: state.watermarkMs, line: e.line }, out);
    },
    end(watermarkMs: number, out: StageOutput) {
      apply({ kind: 'advance', watermarkMs }, out);
      return pending(state);
    },
  };
}
