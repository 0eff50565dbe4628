import { DEFAULT_GAP_RULES, type GapRules } from '../../functions/gap-detector/core';
import { gapDetectorStage } from './gap-detector-stage';
import type { RatesFile } from '../../shared/rates/file';
import { checkerStages } from './checker-stages';
import type { ReplayStage } from './stage';

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
}

/** The rule stages after validation and deduplication, in pipeline order (DESIGN §1). */
export function buildStages(options: StageOptions): ReplayStage[] {
  return [gapDetectorStage(options.gapRules ?? DEFAULT_GAP_RULES), ...checkerStages(options)];
}
