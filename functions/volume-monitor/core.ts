import { derivedId } from '../../shared/ids';
import type { FlaggedHour } from '../../shared/ports/anomalies';
import { HOUR_MS, volumeAnomalyFinding, type VolumeAnomaly } from '../../shared/volume/detector';

export const NAME = 'volume-monitor';

export interface MonitorConfig {
  /** An hour closes once the watermark is past its end by this (DESIGN §3, as the gap rules). */
  readonly graceMs: number;
  /** How far the watermark trails the wall clock in GCP (late archiving): the tick's view of event time. */
  readonly allowedLatenessMs: number;
  /** How many closed hours each query covers: more than one, so a lost tick loses nothing. */
  readonly lookbackHours: number;
  /** How often Cloud Scheduler ticks: the first tick after an hour closes asks, the others in that hour do not. */
  readonly tickIntervalMs: number;
}

export const DEFAULT_MONITOR_CONFIG: MonitorConfig = {
  graceMs: 5 * 60_000,
  allowedLatenessMs: 5 * 60_000,
  lookbackHours: 3,
  tickIntervalMs: 60_000,
};

export interface Window {
  readonly fromMs: number;
  readonly toMs: number;
}

/**
 * Which closed hours a tick at `now` asks about, or nothing. Stateless: the hours closed since
 * the last run are those of the last `lookbackHours`, asked once per hour by the first tick after
 * the newest of them closed; the findings' ids are deterministic, so an overlap or a redelivered
 * tick publishes the same findings again under the same ids, which consumers drop.
 */
export function planWindow(nowMs: number, config: MonitorConfig): Window | undefined {
  const watermark = nowMs - config.allowedLatenessMs;
  const closedBefore = Math.floor((watermark - config.graceMs) / HOUR_MS) * HOUR_MS;
  if (watermark - config.graceMs - closedBefore >= config.tickIntervalMs) return undefined;
  return { fromMs: closedBefore - config.lookbackHours * HOUR_MS, toMs: closedBefore };
}

/**
 * The finding for a flagged hour, as the in-code detector words it, with the model's probability;
 * `basis` names what the expected value is (the source's `basis`).
 */
export function flaggedHourFinding(h: FlaggedHour, basis: string): VolumeAnomaly {
  const finding = volumeAnomalyFinding(
    h.series,
    h.hourMs / HOUR_MS,
    h.actual,
    { kind: 'judged', anomalous: true, expected: h.expected, lower: h.lowerBound, upper: h.upperBound },
    basis,
  );
  return h.probability === undefined ? finding : { ...finding, probability: h.probability };
}

/** One id per (series, hour), whichever tick or detector found it. */
export function volumeFindingId(f: VolumeAnomaly): string {
  return derivedId(f.kind, f.series, f.hour);
}
