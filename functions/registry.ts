import { NAME as CALL_DURATION_CHECKER } from './call-duration-checker/core';
import { register as callDurationChecker } from './call-duration-checker';
import { NAME as CRM_CHECKER } from './crm-checker/core';
import { register as crmChecker } from './crm-checker';
import { NAME as DEDUPLICATOR } from './deduplicator/core';
import { NAME as DLQ_TRIAGE } from './dlq-triage/core';
import { register as dlqTriage } from './dlq-triage';
import { register as deduplicator } from './deduplicator';
import { NAME as GAP_DETECTOR } from './gap-detector/core';
import { register as gapDetector } from './gap-detector';
import { NAME as REVENUE_CHECKER } from './revenue-checker/core';
import { register as revenueChecker } from './revenue-checker';
import { NAME as VOLUME_MONITOR } from './volume-monitor/core';
import { register as volumeMonitor } from './volume-monitor';

/** Registers one function with the Functions Framework: its composition root. */
export type Register = (env: NodeJS.ProcessEnv) => void;

/**
 * Every function written so far, by the name its core declares (the folder's name and the
 * manifest's). A manifest function missing here is not built yet: the local stack keeps its
 * subscriptions as pull so nothing is lost.
 */
export const REGISTRY: Readonly<Record<string, Register>> = {
  [DEDUPLICATOR]: deduplicator,
  [GAP_DETECTOR]: gapDetector,
  [REVENUE_CHECKER]: revenueChecker,
  [CALL_DURATION_CHECKER]: callDurationChecker,
  [CRM_CHECKER]: crmChecker,
  [VOLUME_MONITOR]: volumeMonitor,
  [DLQ_TRIAGE]: dlqTriage,
};
