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
  // One input of each kind, refilled for each event: the decider reads an input while deciding and keeps none of it.
  const advance: { kind: 'advance'; watermarkMs: number } = { kind: 'advance', watermarkMs: 0 };
  const sequence: Mutable<Extract<GapInput, { kind: 'sequence' }>> = { kind: 'sequence', source: '', seq: 0n, eventId: '', type: '', timeMs: 0, order: 0, watermarkMs: 0 };
  const chain: Mutable<Extract<GapInput, { kind: 'chain' }>> = { kind: 'chain', event: { id: '', type: 'lead.tagged', source: '', data: { lead_id: '' } }, timeMs: 0, order: 0, watermarkMs: 0, line: 0 };

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
      advance.watermarkMs = watermarkMs;
      apply(advance, out);
      slots.forget(state);
    },
    onValid(e: ReplayEvent, out: StageOutput) {
      arrival++;
      if (e.sequence === undefined) return;
      sequence.source = e.source;
      sequence.seq = BigInt(e.sequence);
      sequence.eventId = e.id;
      sequence.type = e.type;
      sequence.timeMs = e.timeMs;
      sequence.order = arrival;
      sequence.watermarkMs = state.watermarkMs;
      apply(sequence, out);
    },
    onAccepted(e: ReplayEvent, out: StageOutput) {
      // onValid of the same event has just counted it: `arrival` is its arrival number.
      chain.event = e.chain;
      chain.timeMs = e.timeMs;
      chain.order = arrival;
      chain.watermarkMs = state.watermarkMs;
      chain.line = e.line;
      apply(chain, out);
    },
    end(watermarkMs: number, out: StageOutput) {
      apply({ kind: 'advance', watermarkMs }, out);
      return pending(state);
    },
  };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
