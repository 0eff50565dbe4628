import type { RatesFile } from '../shared/rates/file';
import type { ReplayStage } from './stage';

/** What the command line hands to the stages. */
export interface StageOptions {
  /** The checking clock, epoch ms. */
  readonly now: number;
  /** The `--rates` table; without it FX checks are skipped. */
  readonly rates?: RatesFile;
  /** The environment, for Stripe and Twilio credentials: their checks run only when configured. */
  readonly env: NodeJS.ProcessEnv;
}

/** The rule stages after validation and deduplication, in pipeline order (DESIGN §1). */
export function buildStages(options: StageOptions): ReplayStage[] {
  void options;
  return [];
}
