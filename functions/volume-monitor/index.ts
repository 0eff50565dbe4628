import { registerPush } from '../../shared/pubsub/push-http';
import { BigQuery } from '@google-cloud/bigquery';
import { PubSub } from '@google-cloud/pubsub';
import { z } from 'zod';
import { BigQueryAnomalySource, detectionSql } from '../../shared/adapters/bigquery-anomalies';
import { PubSubPublisher } from '../../shared/adapters/pubsub-publisher';
import { envNumber, readConfig, ResourceEnv } from '../../shared/config';
import { jsonLogger } from '../../shared/log';
import { systemClock } from '../../shared/ports';
import { VOLUME_DEFAULTS } from '../../shared/volume/detector';
import { DEFAULT_MONITOR_CONFIG, NAME } from './core';
import { volumeMonitorHandler } from './handler';

const MINUTE = 60_000;
const BigQueryName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,1023}$/, { message: 'must be a BigQuery name: letters, digits and _' });

export const Env = z.object({
  /** The dataset of the archive, the hourly view, the model and the volume_anomalies table. */
  VOLUME_DATASET: BigQueryName,
  VOLUME_PROJECT: z.string().min(1).optional(),
  GOOGLE_CLOUD_PROJECT: z.string().min(1).optional(),
  VOLUME_MODEL: BigQueryName.default('volume_model'),
  VOLUME_VIEW: BigQueryName.default('volume_hourly_series'),
  VOLUME_ANOMALIES_TABLE: BigQueryName.default('volume_anomalies'),
  BIGQUERY_LOCATION: z.string().min(1).optional(),
  VOLUME_ANOMALY_PROB_THRESHOLD: z.coerce.number().min(0).lt(1).default(VOLUME_DEFAULTS.anomaly_prob_threshold),
  VOLUME_LOOKBACK_HOURS: z.coerce.number().int().min(1).max(48).default(DEFAULT_MONITOR_CONFIG.lookbackHours),
  VOLUME_GRACE_MINUTES: envNumber(DEFAULT_MONITOR_CONFIG.graceMs / MINUTE),
  ALLOWED_LATENESS_MINUTES: z.coerce.number().nonnegative().default(DEFAULT_MONITOR_CONFIG.allowedLatenessMs / MINUTE),
  TICK_INTERVAL_MINUTES: envNumber(DEFAULT_MONITOR_CONFIG.tickIntervalMs / MINUTE),
  ...ResourceEnv,
});

/**
 * Composition root. Without VOLUME_DATASET there is no BigQuery to ask (the local stack has no
 * BigQuery emulator): the function is then not registered, says so once, and the Functions
 * Framework reports it as not defined, which the local stack treats as a function to skip.
 */
export function register(env: NodeJS.ProcessEnv = process.env): void {
  const logger = jsonLogger(undefined, { function: NAME });
  if (env.VOLUME_DATASET === undefined || env.VOLUME_DATASET === '') {
    logger.log('WARNING', `${NAME} not registered: VOLUME_DATASET is not set (volume anomalies need BigQuery)`);
    return;
  }
  const c = readConfig(Env, env, NAME);
  const projectId = c.VOLUME_PROJECT ?? c.GOOGLE_CLOUD_PROJECT;
  const bigquery = new BigQuery(projectId ? { projectId } : {});
  const sql = detectionSql(
    { project: projectId ?? bigquery.projectId, dataset: c.VOLUME_DATASET, model: c.VOLUME_MODEL, view: c.VOLUME_VIEW, anomaliesTable: c.VOLUME_ANOMALIES_TABLE },
    { anomalyProbThreshold: c.VOLUME_ANOMALY_PROB_THRESHOLD, minRelativeChange: VOLUME_DEFAULTS.min_relative_change, minAbsoluteChange: VOLUME_DEFAULTS.min_absolute_change },
  );
  registerPush(
    NAME,
    volumeMonitorHandler({
      source: new BigQueryAnomalySource(bigquery, sql, c.BIGQUERY_LOCATION ? { location: c.BIGQUERY_LOCATION } : {}),
      publisher: new PubSubPublisher(new PubSub(), c.RESOURCE_PREFIX),
      clock: systemClock,
      config: {
        graceMs: c.VOLUME_GRACE_MINUTES * MINUTE,
        allowedLatenessMs: c.ALLOWED_LATENESS_MINUTES * MINUTE,
        lookbackHours: c.VOLUME_LOOKBACK_HOURS,
        tickIntervalMs: c.TICK_INTERVAL_MINUTES * MINUTE,
      },
      logger,
    }),
  );
}
