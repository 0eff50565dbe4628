import type { z } from 'zod';
import type { VolumeAnomalyFinding } from '../findings';
import defaults from './defaults.json';

/**
 * Volume anomalies in code (DESIGN §3): the same question the BigQuery ML model answers in GCP,
 * asked of hourly series kept in memory. Pure: time comes in as data (event times and the
 * watermark), nothing here reads a clock, the environment or a client.
 */

export const HOUR_MS = 3_600_000;
const HOURS_PER_DAY = 24;

/** The ratio series: the hour's `crm.synced` count over its `card.scanned` count. */
export const SCAN_TO_CRM = 'scan_to_crm';
export const SCAN_TYPE = 'card.scanned';
export const CRM_TYPE = 'crm.synced';
/** The money series: the hour's sum of accepted `sale.recorded` `amount_usd`, in US cents. */
export const REVENUE_USD = 'revenue_usd';
export const SALE_TYPE = 'sale.recorded';
/** Bucket keys of the hour's revenue and its sum of squares: not event types, so never count series. */
const REVENUE_SUM = '\0revenue_usd';
const REVENUE_SQUARES = '\0revenue_usd_squares';

export interface VolumeConfig {
  /** How many standard deviations (baseline spread and counting noise) an hour may stray. */
  readonly sigmas: number;
  /** The least change, relative to the baseline, that is ever flagged (0.5 = 50 %). */
  readonly minRelativeChange: number;
  /** The least change, in events, that is ever flagged on a count series. */
  readonly minAbsoluteChange: number;
  /** An hour is judged only with at least this many baseline days (same hour, same kind of day). */
  readonly minHistoryDays: number;
  /** The baseline is the most recent this-many usable days of the same kind. */
  readonly baselineDays: number;
  /** How far back a baseline day may be. */
  readonly lookbackDays: number;
  /** `scan_to_crm` has a value only for hours with at least this many scans. */
  readonly minScans: number;
  /** An hour is closed once the watermark has passed its end plus this. */
  readonly graceMs: number;
}

/**
 * Defaults for few false alarms (DESIGN §3), from shared/volume/defaults.json, measured with `npm run volume:eval` over generated
 * three-week logs: at most about one a week across all series on normal traffic, while an
 * outage that removes most of a busy hour, or a storm that triples it, is flagged.
 */
export const DEFAULT_VOLUME_CONFIG: VolumeConfig = {
  sigmas: defaults.sigmas,
  minRelativeChange: defaults.min_relative_change,
  minAbsoluteChange: defaults.min_absolute_change,
  minHistoryDays: defaults.min_history_days,
  baselineDays: defaults.baseline_days,
  lookbackDays: defaults.lookback_days,
  minScans: defaults.min_scans,
  graceMs: 5 * 60_000,
};

/** The settings the GCP half shares (shared/volume/defaults.json, which Terraform reads too). */
export const VOLUME_DEFAULTS = defaults;

export type SeriesKind = 'count' | 'ratio' | 'amount';

/** The verdict on one (series, hour) against its baseline. */
export type Judgement =
  | { readonly kind: 'not_judged'; readonly history: number }
  | { readonly kind: 'judged'; readonly anomalous: boolean; readonly expected: number; readonly lower: number; readonly upper: number };

function median(sorted: readonly number[]): number {
  const n = sorted.length;
  const mid = n >> 1;
  return n % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Anscombe's transform: counts of a Poisson process get a variance of about 1/4 whatever their mean. */
const stabilise = (count: number) => Math.sqrt(count + 0.375);
const unstabilise = (root: number) => Math.max(0, root * root - 0.375);

/** Median and robust spread (1.4826 × median absolute deviation) of some values. */
function location(values: readonly number[]): { median: number; spread: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const m = median(sorted);
  const deviations = sorted.map((v) => Math.abs(v - m)).sort((a, b) => a - b);
  return { median: m, spread: 1.4826 * median(deviations) };
}

/**
 * Judges `actual` against `baseline` (values of the same hour on previous days of the same kind,
 * flagged hours already left out). Expected: the baseline's median. Interval: `sigmas` standard
 * deviations either side, the deviation being the larger of the baseline's robust spread and the
 * counting noise (Poisson: counts are compared on Anscombe's square-root scale, where that noise
 * is 1/2 at any level, so a night of 3 events is not held to a busy hour's precision; a ratio's
 * noise is the expected ratio over the hour's scans), inflated for a median of few days; then
 * widened to at least the minimum relative change (and, for counts, the minimum absolute change).
 * A money total (`amount`) is a compound Poisson sum: its noise variance (`noise`) is the
 * expected number of sales times the mean squared sale amount, so where a few large orders are
 * usual they widen the band as they should. The bounds returned are exactly what was compared.
 */
export function judge(kind: SeriesKind, baseline: readonly number[], actual: number, noise: number, config: VolumeConfig, typicalSale = 0): Judgement {
  const n = baseline.length;
  if (n < config.minHistoryDays) return { kind: 'not_judged', history: n };
  // The median of n values varies about pi/2 times as much as their mean: 1.57/n of one value's variance.
  const estimate = 1 + 1.57 / n;
  const expected = location(baseline).median;
  let lower: number;
  let upper: number;
  if (kind === 'count') {
    const roots = location(baseline.map(stabilise));
    const sigma = Math.sqrt(Math.max(roots.spread * roots.spread, 0.25) * estimate);
    const centre = stabilise(expected);
    lower = centre - config.sigmas * sigma > 0 ? unstabilise(centre - config.sigmas * sigma) : 0;
    upper = unstabilise(centre + config.sigmas * sigma);
  } else if (kind === 'amount') {
    const { spread } = location(baseline);
    const sigma = Math.sqrt(Math.max(spread * spread, noise) * estimate);
    lower = expected - config.sigmas * sigma;
    upper = expected + config.sigmas * sigma;
    // The counts' minimum absolute change, in money: what that many typical sales would make.
    upper = Math.max(upper, expected + config.minAbsoluteChange * typicalSale);
    lower = Math.min(lower, expected - config.minAbsoluteChange * typicalSale);
  } else {
    const scans = noise;
    const { spread } = location(baseline);
    const sigma = Math.sqrt(Math.max(spread * spread, Math.max(expected, 1 / scans) / scans) * estimate);
    lower = expected - config.sigmas * sigma;
    upper = expected + config.sigmas * sigma;
  }
  const minChange = kind === 'count' ? config.minAbsoluteChange : 0;
  upper = Math.max(upper, expected * (1 + config.minRelativeChange), expected + minChange);
  lower = Math.max(0, Math.min(lower, expected * (1 - config.minRelativeChange), expected - minChange));
  return { kind: 'judged', anomalous: actual < lower || actual > upper, expected, lower, upper };
}

/** Weekdays and weekends have their own baselines; both by the UTC calendar. */
export function isWeekend(hour: number): boolean {
  // Day 0 of the epoch, 1970-01-01, was a Thursday.
  const weekday = (Math.floor(hour / HOURS_PER_DAY) + 4) % 7;
  return weekday === 0 || weekday === 6;
}

/** The hour's start as DESIGN §4 writes it: RFC 3339, UTC, whole seconds. */
export function hourText(hour: number): string {
  return new Date(hour * HOUR_MS).toISOString().replace('.000Z', 'Z');
}

const round = (x: number) => Math.round(x * 10_000) / 10_000;

export type VolumeAnomaly = z.infer<typeof VolumeAnomalyFinding>;

/** The finding for an anomalous (series, hour): action `reported`, bounds as compared. */
export function volumeAnomalyFinding(
  series: string,
  hour: number,
  actual: number,
  j: Extract<Judgement, { kind: 'judged' }>,
  basis = 'the seasonal baseline',
): VolumeAnomaly {
  const direction = actual < j.lower ? 'below' : 'above';
  const what = series === SCAN_TO_CRM ? `scan_to_crm ratio ${round(actual)}` : series === REVENUE_USD ? `sales of ${actual} US cents` : `${actual} ${series} events`;
  return {
    kind: 'volume_anomaly',
    action: 'reported',
    series,
    hour: hourText(hour),
    expected: round(j.expected),
    actual: round(actual),
    lower_bound: round(j.lower),
    upper_bound: round(j.upper),
    reason: `${what} in the hour from ${hourText(hour)}: ${direction} the expected range ${round(j.lower)}..${round(j.upper)} (${basis}: ${round(j.expected)})`,
  };
}

interface Series {
  readonly kind: SeriesKind;
  /** The first hour the series exists (its first event); hours before it are not part of it. */
  first: number;
  /** The value of every closed hour that has one (a ratio hour with too few scans has none). */
  readonly values: Map<number, number>;
  readonly flagged: Set<number>;
  judged: number;
  /** `amount`: each closed hour's number of sales and sum of squared amounts (the noise of its total). */
  readonly sales?: Map<number, { readonly n: number; readonly squares: number }>;
  /** `amount`: the sums of those over the hours kept, for the mean squared sale amount. */
  totals?: { n: number; squares: number };
}

export interface VolumeSummary {
  /** Series with at least one hour judged. */
  series_judged: number;
  /** (series, hour) pairs judged against a baseline. */
  hours_judged: number;
  /** (series, hour) pairs closed but not judged: fewer baseline days than the minimum. */
  hours_not_judged: number;
  anomalies: number;
  /** Accepted events whose hour had already been judged when they came; not in any count. */
  late_events: number;
}

/**
 * The detector over a stream of accepted events: `count` per event (a map increment), `close`
 * when the watermark moves (judges every hour that closed, in order, across all series). Hours
 * with no events count as 0 for every series seen before, so a producer that stops is seen.
 */
export class VolumeDetector {
  private readonly open = new Map<number, Map<string, number>>();
  private readonly series = new Map<string, Series>();
  /** The first hour not judged yet, once any event has been counted. */
  private next: number | undefined;
  /** Hours before this have been judged (none until the first close). */
  private judgedBefore = Number.NEGATIVE_INFINITY;
  /** The last judged hour that had any accepted event. */
  private lastClosedData = Number.NEGATIVE_INFINITY;
  private lastHour = Number.NaN;
  private lastBucket: Map<string, number> | undefined;
  private lateEvents = 0;
  private judgedHours = 0;
  private notJudgedHours = 0;
  private anomalies = 0;
  /** The watermark at which the next hour closes: `close` is a comparison until then. */
  nextCloseAt = Number.POSITIVE_INFINITY;

  constructor(readonly config: VolumeConfig = DEFAULT_VOLUME_CONFIG) {}

  /**
   * Counts one accepted event of `type` at `timeMs` (event time); `amountUsd` (US cents) adds a
   * sale to the hour's revenue.
   */
  count(type: string, timeMs: number, amountUsd?: number): void {
    this.add(type, timeMs, 1, amountUsd, amountUsd === undefined ? undefined : amountUsd * amountUsd);
  }

  /**
   * Counts `n` accepted events of `type` in the hour of `timeMs` at once, as an hourly series
   * keeps them (shared/volume/hourly.ts); `revenueUsd` and `revenueSquares` are the sum of their
   * `amount_usd` and of its squares. `count` is `add` of one event.
   */
  add(type: string, timeMs: number, n: number, revenueUsd?: number, revenueSquares?: number): void {
    const hour = Math.floor(timeMs / HOUR_MS);
    let bucket: Map<string, number> | undefined;
    if (hour === this.lastHour) bucket = this.lastBucket!;
    else {
      if (hour < this.judgedBefore) {
        this.lateEvents += n;
        return;
      }
      bucket = this.open.get(hour);
      if (!bucket) {
        bucket = new Map();
        this.open.set(hour, bucket);
      }
      this.lastHour = hour;
      this.lastBucket = bucket;
      if (this.next === undefined || hour < this.next) {
        this.next = hour;
        this.nextCloseAt = (hour + 1) * HOUR_MS + this.config.graceMs;
      }
    }
    const had = bucket.get(type);
    if (had === undefined) {
      bucket.set(type, n);
      const s = this.series.get(type);
      if (!s) this.series.set(type, { kind: 'count', first: hour, values: new Map(), flagged: new Set(), judged: 0 });
      else if (hour < s.first) s.first = hour;
    } else bucket.set(type, had + n);
    if (revenueUsd !== undefined) {
      bucket.set(REVENUE_SUM, (bucket.get(REVENUE_SUM) ?? 0) + revenueUsd);
      bucket.set(REVENUE_SQUARES, (bucket.get(REVENUE_SQUARES) ?? 0) + (revenueSquares ?? 0));
      const s = this.series.get(REVENUE_USD);
      if (!s) this.series.set(REVENUE_USD, { kind: 'amount', first: hour, values: new Map(), flagged: new Set(), judged: 0, sales: new Map(), totals: { n: 0, squares: 0 } });
      else if (hour < s.first) s.first = hour;
    }
  }

  /** Judges every hour closed by `watermarkMs`; returns the anomalies, oldest hour first. */
  close(watermarkMs: number): VolumeAnomaly[] {
    const found: VolumeAnomaly[] = [];
    if (watermarkMs < this.nextCloseAt || this.next === undefined) return found;
    const { graceMs, lookbackDays } = this.config;
    const closedBefore = Math.floor((watermarkMs - graceMs) / HOUR_MS);
    for (let hour = this.next; hour < closedBefore; hour++) {
      const hasEvents = this.open.has(hour);
      if (!hasEvents && hour - this.lastClosedData > lookbackDays * HOURS_PER_DAY) {
        // Nothing at all for longer than any baseline reaches: nothing to judge before the next
        // hour with events, whether the watermark passes the silence before its events come or after.
        hour = Math.min(this.nextOpenAfter(hour), closedBefore) - 1;
        continue;
      }
      if (hasEvents) this.lastClosedData = hour;
      this.closeHour(hour, found);
    }
    this.next = Math.max(this.next, closedBefore);
    this.judgedBefore = this.next;
    if (this.lastHour < this.next) {
      this.lastHour = Number.NaN;
      this.lastBucket = undefined;
    }
    this.nextCloseAt = (this.next + 1) * HOUR_MS + graceMs;
    return found;
  }

  /** The first hour after `hour` with events not judged yet (Infinity: none). */
  private nextOpenAfter(hour: number): number {
    let next = Number.POSITIVE_INFINITY;
    for (const h of this.open.keys()) if (h > hour && h < next) next = h;
    return next;
  }

  private closeHour(hour: number, found: VolumeAnomaly[]): void {
    const bucket = this.open.get(hour);
    this.open.delete(hour);
    for (const [name, s] of this.series) {
      if (hour < s.first) continue;
      if (s.kind === 'count') this.record(name, s, hour, bucket?.get(name) ?? 0, 0, found);
      else if (s.kind === 'amount') this.recordAmount(name, s, hour, bucket, found);
    }
    const scans = bucket?.get(SCAN_TYPE) ?? 0;
    if (scans >= this.config.minScans) {
      let s = this.series.get(SCAN_TO_CRM);
      if (!s) {
        s = { kind: 'ratio', first: hour, values: new Map(), flagged: new Set(), judged: 0 };
        this.series.set(SCAN_TO_CRM, s);
      }
      this.record(SCAN_TO_CRM, s, hour, (bucket?.get(CRM_TYPE) ?? 0) / scans, scans, found);
    }
  }

  /**
   * The hour's sales total against its baseline. Its noise: the baseline's median number of sales
   * (same hours) times the mean squared sale amount over every hour kept (heavy-tailed prices
   * need many sales to estimate; one hour's few would not). The hour then joins both.
   */
  private recordAmount(name: string, s: Series, hour: number, bucket: Map<string, number> | undefined, found: VolumeAnomaly[]): void {
    const sales = s.sales!;
    const totals = s.totals!;
    const counts = this.baseline(s, hour, new Map([...sales].map(([h, v]) => [h, v.n])));
    const meanSquare = totals.n > 0 ? totals.squares / totals.n : 0;
    // At least one sale's worth of noise: a quiet hour's median of 0 sales is not a promise of none.
    const noise = counts.length > 0 ? Math.max(1, location(counts).median) * meanSquare : 0;
    this.record(name, s, hour, bucket?.get(REVENUE_SUM) ?? 0, noise, found, Math.sqrt(meanSquare));
    const now = { n: bucket?.get(SALE_TYPE) ?? 0, squares: bucket?.get(REVENUE_SQUARES) ?? 0 };
    sales.set(hour, now);
    totals.n += now.n;
    totals.squares += now.squares;
    const old = hour - this.config.lookbackDays * HOURS_PER_DAY - 1;
    const gone = sales.get(old);
    if (gone) {
      sales.delete(old);
      totals.n -= gone.n;
      totals.squares -= gone.squares;
    }
  }

  private record(name: string, s: Series, hour: number, actual: number, noise: number, found: VolumeAnomaly[], typicalSale = 0): void {
    const j = judge(s.kind, this.baseline(s, hour), actual, noise, this.config, typicalSale);
    s.values.set(hour, actual);
    s.values.delete(hour - this.config.lookbackDays * HOURS_PER_DAY - 1);
    s.flagged.delete(hour - this.config.lookbackDays * HOURS_PER_DAY - 1);
    if (j.kind === 'not_judged') {
      this.notJudgedHours++;
      return;
    }
    this.judgedHours++;
    s.judged++;
    if (!j.anomalous) return;
    // An incident must not become the new normal: a flagged hour stays out of later baselines.
    s.flagged.add(hour);
    this.anomalies++;
    found.push(volumeAnomalyFinding(name, hour, actual, j));
  }

  /**
   * Values of the same hour on previous days of the same kind, newest first, flagged ones left out
   * (of the series, or of `from`, a per-hour companion of it such as its sums of squares).
   */
  private baseline(s: Series, hour: number, from: ReadonlyMap<number, number> = s.values): number[] {
    const { baselineDays, lookbackDays } = this.config;
    const weekend = isWeekend(hour);
    const out: number[] = [];
    for (let day = 1; day <= lookbackDays && out.length < baselineDays; day++) {
      const h = hour - day * HOURS_PER_DAY;
      if (h < s.first) break;
      if (isWeekend(h) !== weekend || s.flagged.has(h)) continue;
      const v = from.get(h);
      if (v !== undefined) out.push(v);
    }
    return out;
  }

  summary(): VolumeSummary {
    let seriesJudged = 0;
    for (const s of this.series.values()) if (s.judged > 0) seriesJudged++;
    return {
      series_judged: seriesJudged,
      hours_judged: this.judgedHours,
      hours_not_judged: this.notJudgedHours,
      anomalies: this.anomalies,
      late_events: this.lateEvents,
    };
  }
}
