import { DEFAULT_GAP_RULES, type GapRules } from '../../functions/gap-detector/core';
import { gapDetectorStage } from '../../functions/gap-detector/replay-stage';
import type { RatesFile } from '../../shared/rates/file';
import { DEFAULT_VOLUME_CONFIG, type VolumeConfig } from '../../shared/volume/detector';
import { checkerStages } from './checker-stages';
import type { ReplayStage } from './stage';
import { volumeStage } from './volume-stage';

/** What the command line hands to the stages. */
export interface StageOptions {
  /** The checking clock, epoch ms. */
  readonly now: number;
  /** The `--rates` table; without it FX checks are skipped. */
  readonly rates?: RatesFile;
  /** The environment, for Stripe and Twilio credentials: their checks run only when configured. */
  readonly env: NodeJS.ProcessEnv;
  /** Grace period and chain deadlines of the missing-event rules (default: DESIGN §3). */
  readonly gapRules?: GapRules;
  /** A correction moving amount_usd by more than this factor is held for review (default 3). */
  readonly reviewFactor?: number;
  /** Volume-anomaly settings over the defaults; `false` leaves the detector out (the bench's baseline). */
  readonly volume?: Partial<VolumeConfig> | false;
}

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
