import type { CloudEvent } from '@google-cloud/functions-framework';
import { TransientError } from '../../shared/errors';
import type { Logger } from '../../shared/log';
import type { AnomalySource, Clock, Publisher } from '../../shared/ports';
import { publishFinding } from '../../shared/publish';
import { decodePush, type MessagePublishedData } from '../../shared/pubsub/push';
import { flaggedHourFinding, NAME, planWindow, volumeFindingId, type MonitorConfig } from './core';

export interface VolumeMonitorDeps {
  readonly source: AnomalySource;
  readonly publisher: Publisher;
  readonly clock: Clock;
  readonly config: MonitorConfig;
  readonly logger: Logger;
}

/**
 * volume-monitor behind its `ticks` subscription (DESIGN §3, GCP): on the first tick after an
 * hour closes, asks ML.DETECT_ANOMALIES about the recently closed hours (the SQL records what it
 * flags), and publishes one volume_anomaly finding per flagged (series, hour) under an id derived
 * from them, so a repeated tick or a redelivery publishes nothing new. The tick's content does
 * not matter: only its arrival. A BigQuery or publish fault throws (→ 500 → redelivery).
 */
export function volumeMonitorHandler(deps: VolumeMonitorDeps) {
  const { logger } = deps;
  return async (ce: CloudEvent<MessagePublishedData>): Promise<void> => {
    const message = decodePush(ce);
    const now = deps.clock.now();
    const window = planWindow(now, deps.config);
    if (!window) return;
    const hours = await deps.source.detect(window);
    const findings = hours.map((h) => flaggedHourFinding(h, deps.source.basis));
    try {
      await Promise.all(findings.map((f) => publishFinding(deps.publisher, f, volumeFindingId(f))));
    } catch (err) {
      throw new TransientError(`${NAME} could not publish its findings: ${(err as Error).message}`, 'VOLUME_PUBLISH_FAILED', { messageId: message.messageId }, { cause: err });
    }
    logger.log('INFO', 'volume window judged', {
      message_id: message.messageId,
      from: new Date(window.fromMs).toISOString(),
      to: new Date(window.toMs).toISOString(),
      anomalies: findings.length,
    });
  };
}
