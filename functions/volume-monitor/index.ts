import { registerPush } from '../../shared/pubsub/push-http';
import { BigQuery } from '@google-cloud/bigquery';
import { PubSub } from '@google-cloud/pubsub';
import { z } from 'zod';
import { BigQueryAnomalySource, detectionSql } from '../../shared/adapters/bigquery-anomalies';
import { EmbeddedAnomalySource } from '../../shared/adapters/embedded-anomalies';
import { FileHourlySeriesStore } from '../../shared/adapters/file-hourly-series';
import { ConfigError } from '../../shared/errors';
import { PubSubPublisher } from '../../shared/adapters/pubsub-publisher';
import { envNumber, readConfig, ResourceEnv } from '../../shared/config';
import { jsonLogger } from '../../shared/log';
import { systemClock } from '../../shared/ports';
import { DEFAULT_VOLUME_CONFIG, VOLUME_DEFAULTS } from '../../shared/volume/detector';
import { DEFAULT_MONITOR_CONFIG, NAME } from './core';
import { volumeMonitorHandler } from './handler';

const MINUTE = 60_000;
const BigQueryName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,1023}$/, { message: 'must be a BigQuery name: letters, digits and _' });

/** Settings both adapters share: which hours a tick asks about. */
const WindowEnv = {
  VOLUME_LOOKBACK_HOURS: z.coerce.number().int().min(1).max(48).default(DEFAULT_MONITOR_CONFIG.lookbackHours),
  VOLUME_GRACE_MINUTES: envNumber(DEFAULT_MONITOR_CONFIG.graceMs / MINUTE),
  ALLOWED_LATENESS_MINUTES: z.coerce.number().nonnegative().default(DEFAULT_MONITOR_CONFIG.allowedLatenessMs / MINUTE),
  TICK_INTERVAL_MINUTES: envNumber(DEFAULT_MONITOR_CONFIG.tickIntervalMs / MINUTE),
  ...ResourceEnv,
};

/** GCP: BigQuery ML over the archive (Terraform sets VOLUME_DATASET, infra/modules/volume-anomalies). */
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
  ...WindowEnv,
});

/**
 * Local: the detector in code over the hourly series the local stack keeps from what it archives
 * (tools/local/volume-archive.ts writes the file; there is no BigQuery emulator, DESIGN §8).
 */
export const LocalEnv = z.object({
  /** The hourly-series file (shared/volume/hourly.ts) the local stack keeps. */
  VOLUME_SERIES_FILE: z.string().min(1),
  ...WindowEnv,
});

type WindowSettings = z.infer<z.ZodObject<typeof WindowEnv>>;

const monitorConfig = (c: WindowSettings) => ({
  graceMs: c.VOLUME_GRACE_MINUTES * MINUTE,
  allowedLatenessMs: c.ALLOWED_LATENESS_MINUTES * MINUTE,
  lookbackHours: c.VOLUME_LOOKBACK_HOURS,
  tickIntervalMs: c.TICK_INTERVAL_MINUTES * MINUTE,
});

/**
 * Composition root. The anomaly source is chosen by the environment: VOLUME_DATASET (set by
 * Terraform) asks BigQuery ML; VOLUME_SERIES_FILE (set by the local stack) asks the detector in
 * code over the local hourly series; both set is a configuration error. With neither there is
 * nothing to ask: the function is then not registered, says so once, and the Functions Framework
 * reports it as not defined, which the local stack treats as a function to skip.
 */
export function register(env: NodeJS.ProcessEnv = process.env): void {
  const logger = jsonLogger(undefined, { function: NAME });
  const dataset = env.VOLUME_DATASET !== undefined && env.VOLUME_DATASET !== '';
  const seriesFile = env.VOLUME_SERIES_FILE !== undefined && env.VOLUME_SERIES_FILE !== '';
  if (dataset && seriesFile) throw new ConfigError(`${NAME}: VOLUME_DATASET (BigQuery ML, GCP) and VOLUME_SERIES_FILE (the local hourly series) are both set: set one`);
  if (!dataset && !seriesFile) {
    logger.log('WARNING', `${NAME} not registered: neither VOLUME_DATASET (BigQuery ML) nor VOLUME_SERIES_FILE (the local stack's hourly series) is set`);
    return;
  }
  const publisher = (prefix: string | undefined) => new PubSubPublisher(new PubSub(), prefix);
  if (seriesFile) {
    const c = readConfig(LocalEnv, env, NAME);
    registerPush(
      NAME,
      volumeMonitorHandler({
        source: new EmbeddedAnomalySource(new FileHourlySeriesStore(c.VOLUME_SERIES_FILE), { ...DEFAULT_VOLUME_CONFIG, graceMs: c.VOLUME_GRACE_MINUTES * MINUTE }),
        publisher: publisher(c.RESOURCE_PREFIX),
        clock: systemClock,
        config: monitorConfig(c),
        logger,
      }),
    );
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
      publisher: publisher(c.RESOURCE_PREFIX),
      clock: systemClock,
      config: monitorConfig(c),
      logger,
    }),
  );
}
