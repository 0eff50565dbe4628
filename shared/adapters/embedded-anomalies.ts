import type { AnomalySource, FlaggedHour, HourlySeriesStore } from '../ports';
import { DEFAULT_VOLUME_CONFIG, HOUR_MS, VolumeDetector, type VolumeConfig } from '../volume/detector';
import { feedDetector } from '../volume/hourly';

const DAY_MS = 24 * HOUR_MS;

/**
 * volume-monitor's local half (DESIGN §3, "embedded and local"): the detector `event-recovery
 * replay` runs (shared/volume/detector.ts), asked about a window of closed hours over the hourly
 * series a store keeps. Each call reads the hours the baselines can reach (the lookback before
 * the window) and judges them in order, so the hours it flags earlier are left out of later
 * baselines as the BigQuery half leaves out the hours its table records; only the window's
 * anomalies are returned. Stateless between calls: the same store gives the same answer.
 */
export class EmbeddedAnomalySource implements AnomalySource {
  readonly basis = 'the seasonal baseline';

  constructor(
    private readonly store: HourlySeriesStore,
    private readonly config: VolumeConfig = DEFAULT_VOLUME_CONFIG,
  ) {}

  async detect(window: { fromMs: number; toMs: number }): Promise<FlaggedHour[]> {
    // Hours far enough back that the window's first hour has its whole baseline, judged in turn.
    const fromMs = window.fromMs - (this.config.lookbackDays + 1) * DAY_MS;
    const rows = await this.store.read({ fromMs, toMs: window.toMs });
    const detector = new VolumeDetector(this.config);
    feedDetector(detector, rows);
    // A watermark one grace period past the window's end closes every hour before it.
    return detector
      .close(window.toMs + this.config.graceMs)
      .filter((f) => Date.parse(f.hour) >= window.fromMs)
      .map((f) => ({ series: f.series, hourMs: Date.parse(f.hour), expected: f.expected, actual: f.actual, lowerBound: f.lower_bound, upperBound: f.upper_bound }));
  }
}
