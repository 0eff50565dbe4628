import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BigQuery } from '@google-cloud/bigquery';
import { z } from 'zod';
import { TransientError } from '../errors';
import type { AnomalySource, FlaggedHour } from '../ports';
import { renderSql, SQL_FILES } from '../volume/sql';

/**
 * Where the .sql files are: beside this module's source (shared/volume/sql), or, compiled to
 * dist/shared/adapters, in the source tree the deployed archive carries (tsc copies no .sql).
 */
export function sqlDir(): string {
  const candidates = [join(__dirname, '..', 'volume', 'sql'), join(__dirname, '..', '..', '..', 'shared', 'volume', 'sql')];
  const found = candidates.find((d) => existsSync(join(d, SQL_FILES.detectAnomalies)));
  if (!found) throw new Error(`the volume SQL files are not in ${candidates.join(' or ')}`);
  return found;
}

export function readSql(file: string, dir: string = sqlDir()): string {
  return readFileSync(join(dir, file), 'utf8');
}

/** The BigQuery names of the volume-anomaly resources (infra/modules/volume-anomalies). */
export interface VolumeTables {
  readonly project: string;
  readonly dataset: string;
  readonly model: string;
  readonly view: string;
  readonly anomaliesTable: string;
}

export interface DetectSettings {
  readonly anomalyProbThreshold: number;
  readonly minRelativeChange: number;
  readonly minAbsoluteChange: number;
}

/** The detection script with every name and setting filled in; the window stays a query parameter. */
export function detectionSql(tables: VolumeTables, settings: DetectSettings, dir?: string): string {
  return renderSql(readSql(SQL_FILES.detectAnomalies, dir), {
    project: tables.project,
    dataset: tables.dataset,
    model: tables.model,
    view: tables.view,
    anomalies_table: tables.anomaliesTable,
    anomaly_prob_threshold: settings.anomalyProbThreshold,
    min_relative_change: settings.minRelativeChange,
    min_absolute_change: settings.minAbsoluteChange,
  });
}

/** A TIMESTAMP as the client hands it back: a BigQueryTimestamp, whose `value` is RFC 3339. */
const Timestamp = z.object({ value: z.string() }).transform((t, ctx) => {
  const ms = Date.parse(t.value);
  if (Number.isNaN(ms)) ctx.addIssue({ code: 'custom', message: `not a timestamp: ${t.value}` });
  return ms;
});

const Row = z.object({
  series: z.string().min(1),
  hour: Timestamp,
  expected: z.number(),
  actual: z.number(),
  lower_bound: z.number(),
  upper_bound: z.number(),
  probability: z.number().nullable().optional(),
});

/** The BigQuery half of volume-monitor: one jobs.query per window (a script: MERGE, then SELECT). */
export class BigQueryAnomalySource implements AnomalySource {
  readonly basis = 'the ARIMA_PLUS forecast';

  constructor(
    private readonly bigquery: BigQuery,
    private readonly sql: string,
    private readonly options: { readonly location?: string; readonly timeoutMs?: number } = {},
  ) {}

  async detect(window: { fromMs: number; toMs: number }): Promise<FlaggedHour[]> {
    let rows: unknown[];
    try {
      [rows] = await this.bigquery.query({
        query: this.sql,
        params: { from_hour: this.bigquery.timestamp(new Date(window.fromMs)), to_hour: this.bigquery.timestamp(new Date(window.toMs)) },
        useLegacySql: false,
        ...(this.options.location ? { location: this.options.location } : {}),
        ...(this.options.timeoutMs ? { jobTimeoutMs: this.options.timeoutMs } : {}),
      });
    } catch (err) {
      const code = (err as { code?: number }).code;
      throw new TransientError(`BigQuery volume detection failed: ${(err as Error).message}`, `bigquery_${code ?? 'error'}`, {}, { cause: err });
    }
    return rows.map((raw, i) => {
      const row = Row.safeParse(raw);
      if (!row.success) throw new Error(`BigQuery answered an unexpected row ${i}: ${z.prettifyError(row.error)}`);
      const r = row.data;
      return {
        series: r.series,
        hourMs: r.hour,
        expected: r.expected,
        actual: r.actual,
        lowerBound: r.lower_bound,
        upperBound: r.upper_bound,
        ...(r.probability !== null && r.probability !== undefined ? { probability: r.probability } : {}),
      };
    });
  }
}
