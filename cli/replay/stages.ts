import { DEFAULT_GAP_RULES } from '../../functions/gap-detector/core';
import { gapDetectorStage } from '../../functions/gap-detector/replay-stage';
import { checkerStages } from './checker-stages';
import type { ReplayStage, StageOptions } from './stage';

/** The rule stages after validation and deduplication, in pipeline order (DESIGN §1). */
export function buildStages(options: StageOptions): ReplayStage[] {
  return [gapDetectorStage(options.gapRules ?? DEFAULT_GAP_RULES), ...checkerStages(options)];
}
