import type { HourlyRow } from '../volume/hourly';

/** One hour the volume model flagged, as the GCP half reports it (DESIGN §3, §4). */
export interface FlaggedHour {
  readonly series: string;
  /** The hour's start, epoch ms. */
  readonly hourMs: number;
  readonly expected: number;
  readonly actual: number;
  readonly lowerBound: number;
  readonly upperBound: number;
  readonly probability?: number;
}

/**
 * Asks the volume model which closed hours of a window are anomalous (and records them). Two
 * adapters: BigQuery ML in GCP (shared/adapters/bigquery-anomalies.ts) and the detector in code
 * over a local hourly-series store (shared/adapters/embedded-anomalies.ts).
 */
export interface AnomalySource {
  /** What the expected value is, as a finding's reason names it (e.g. "the ARIMA_PLUS forecast"). */
  readonly basis: string;
  detect(window: { readonly fromMs: number; readonly toMs: number }): Promise<FlaggedHour[]>;
}

/** The hourly series of the archive (shared/volume/hourly.ts), read for a range of hours. */
export interface HourlySeriesStore {
  /** The rows whose hour starts in [fromMs, toMs), oldest first. */
  read(range: { readonly fromMs: number; readonly toMs: number }): Promise<HourlyRow[]>;
}
