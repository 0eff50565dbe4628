import type { ReplayEvent, ReplayStage, StageOutput } from '../../cli/replay/stage';
import { DEFAULT_GAP_RULES, GapDetectorCore, lateFinding, NAME, overdueFinding, type GapRules } from './core';

/**
 * The gap-detector inside `event-recovery replay`: the same core as the function, fed by the
 * engine in the order DESIGN §7 fixes. For each valid event the watermark moves first (and
 * whatever fell due is reported), then its sequence number counts (duplicates included), then,
 * if it was accepted, it takes part in chains. State is in memory: sequence ranges per source,
 * waiting chains per key, and one deadline heap, so a step costs O(log n) and nothing grows
 * with the size of a jump.
 */
export function gapDetectorStage(rules: GapRules = DEFAULT_GAP_RULES): ReplayStage {
  const core = new GapDetectorCore(rules);
  let arrival = 0;
  let watermark = Number.NEGATIVE_INFINITY;

  const report = (watermarkMs: number, out: StageOutput) => {
    watermark = watermarkMs;
    for (const o of core.overdue(watermarkMs)) out.finding(overdueFinding(o));
  };

  return {
    name: NAME,
    onWatermark: report,
    onValid(e: ReplayEvent, out: StageOutput) {
      arrival++;
      const { sequence, source } = e.event;
      if (sequence === undefined) return;
      const outcome = core.observeSequence(source, BigInt(sequence), e.timeMs, arrival);
      if (outcome === 'late') out.finding(lateFinding(e.event));
      else if (outcome === 'extended') report(watermark, out);
    },
    onAccepted(e: ReplayEvent, out: StageOutput) {
      // onValid of the same event has just counted it: `arrival` is its arrival number.
      core.observeChain(e.event, e.timeMs, arrival, e.line);
      report(watermark, out);
    },
    end(watermarkMs: number, out: StageOutput) {
      report(watermarkMs, out);
      return core.pending();
    },
  };
}
