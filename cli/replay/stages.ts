import { DEFAULT_GAP_RULES } from '../../functions/gap-detector/core';
import { DEFAULT_VOLUME_CONFIG } from '../../shared/volume/detector';
import { gapDetectorStage } from './gap-detector-stage';
import { checkerStages } from './checker-stages';
import type { ReplayStage, StageOptions } from './stage';
import { volumeStage } from './volume-stage';

/** The rule stages after validation and deduplication, in pipeline order (DESIGN §1). */
export function buildStages(options: StageOptions): ReplayStage[] {
  const gapRules = options.gapRules ?? DEFAULT_GAP_RULES;
  const stages = [gapDetectorStage(gapRules), ...checkerStages(options)];
  if (options.volume !== false) {
    // An hour closes as a gap does: once the watermark is past it by the grace period.
    stages.push(volumeStage({ ...DEFAULT_VOLUME_CONFIG, graceMs: gapRules.graceMs, ...options.volume }));
  }
  return stages;
}
