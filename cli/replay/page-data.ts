import type { BusinessEvent } from '../../shared/events/envelope';
import type { Finding } from '../../shared/findings';
import type { ReplayEvent, ReplayStage } from './stage';

const HOUR_MS = 3_600_000;

/** A finding kept for the page's table, with the event time it was found at. */
export interface PageFinding {
  readonly finding: Finding;
  readonly atMs: number | undefined;
}

/**
 * An expected range of one series in one hour, and whether the hour was flagged. Today these
 * come from `volume_anomaly` findings; the volume detector's per-hour bands (all judged hours,
 * not only the flagged ones) plug in here too: see {@link PageCollector.bands}.
 */
export interface VolumeBand {
  readonly series: string;
  readonly hourMs: number;
  readonly lower: number;
  readonly upper: number;
  readonly expected: number;
  readonly actual: number;
  readonly flagged: boolean;
}

/** What the report page draws, gathered during the replay (only when a page is asked for). */
export interface PageData {
  /** Accepted events per series (event type) per UTC hour of `time` (hour start, epoch ms). */
  readonly volume: ReadonlyMap<string, ReadonlyMap<number, number>>;
  /** Findings per kind per hour: of the event they are about, or of the watermark when found. */
  readonly findings: ReadonlyMap<string, ReadonlyMap<number, number>>;
  /** USD cents per hour of the sale's `time`: as recorded, and after the corrections. */
  readonly revenue: { readonly recorded: ReadonlyMap<number, number>; readonly corrected: ReadonlyMap<number, number> };
  readonly bands: readonly VolumeBand[];
  /** The findings a person should read first (review, corrections, then the rest), a bounded few. */
  readonly top: readonly PageFinding[];
  /** Findings without a time (an invalid line before any valid event). */
  readonly untimed: number;
}

const TOP_PER_KIND = 8;
const TOP_LIMIT = 40;

function bump(map: Map<string, Map<number, number>>, key: string, hour: number, by = 1): void {
  let inner = map.get(key);
  if (!inner) map.set(key, (inner = new Map()));
  inner.set(hour, (inner.get(hour) ?? 0) + by);
}

function add(map: Map<number, number>, hour: number, by: number): void {
  map.set(hour, (map.get(hour) ?? 0) + by);
}

const hourOf = (ms: number) => Math.floor(ms / HOUR_MS) * HOUR_MS;

/**
 * Watches a replay for the report page. A stage that emits nothing (it runs first), plus the
 * `finding` and `correction` taps of the run's output.
 */
export class PageCollector implements ReplayStage {
  readonly name = 'page';
  /** Each finding is placed at the event time reached when it is written: in output order. */
  readonly inOutputOrder = true;
  private readonly volume = new Map<string, Map<number, number>>();
  private readonly findingsByKind = new Map<string, Map<number, number>>();
  private readonly recorded = new Map<number, number>();
  private readonly corrected = new Map<number, number>();
  private readonly sales = new Map<string, { hour: number; usd: number }>();
  private readonly kept = new Map<string, PageFinding[]>();
  /** The volume detector's bands; today only the flagged hours, from volume_anomaly findings. */
  readonly bands: VolumeBand[] = [];
  private nowMs: number | undefined;
  private untimed = 0;

  onWatermark(watermarkMs: number): void {
    this.nowMs = watermarkMs;
  }

  onValid(e: ReplayEvent): void {
    this.nowMs = e.timeMs;
  }

  onAccepted(e: ReplayEvent): void {
    const hour = hourOf(e.timeMs);
    bump(this.volume, e.type, hour);
    if (e.type !== 'sale.recorded') return;
    const sale = e.event;
    if (sale.type === 'sale.recorded') {
      add(this.recorded, hour, sale.data.amount_usd);
      add(this.corrected, hour, sale.data.amount_usd);
      this.sales.set(sale.id, { hour, usd: sale.data.amount_usd });
    }
  }

  finding(f: Finding): void {
    let at = this.nowMs;
    if (f.kind === 'volume_anomaly') {
      const ms = Date.parse(f.hour);
      if (Number.isFinite(ms)) {
        at = ms;
        this.bands.push({ series: f.series, hourMs: hourOf(ms), lower: f.lower_bound, upper: f.upper_bound, expected: f.expected, actual: f.actual, flagged: true });
      }
    }
    if (at === undefined) this.untimed++;
    else bump(this.findingsByKind, f.kind, hourOf(at));
    let list = this.kept.get(f.kind);
    if (!list) this.kept.set(f.kind, (list = []));
    if (list.length < TOP_PER_KIND) list.push({ finding: f, atMs: at });
  }

  correction(c: BusinessEvent): void {
    if (c.type !== 'sale.recorded' || c.correctionof === undefined) return;
    const original = this.sales.get(c.correctionof);
    if (original) add(this.corrected, original.hour, c.data.amount_usd - original.usd);
  }

  data(): PageData {
    const rank = (p: PageFinding) => (p.finding.action === 'review' ? 0 : p.finding.action === 'corrected' ? 1 : 2);
    const top = [...this.kept.values()]
      .flat()
      .sort((a, b) => rank(a) - rank(b) || (a.atMs ?? 0) - (b.atMs ?? 0))
      .slice(0, TOP_LIMIT);
    return {
      volume: this.volume,
      findings: this.findingsByKind,
      revenue: { recorded: this.recorded, corrected: this.corrected },
      bands: this.bands,
      top,
      untimed: this.untimed,
    };
  }
}
