import type { ReplayEvent, ReplayStage } from './stage';

/**
 * Stages that watch the replay without emitting anything: what the summary and the warnings of
 * the command say about the input itself, apart from the rules.
 */

/** The share of valid events that may arrive far behind the watermark before the run warns: a few late arrivals are normal (they are what `late` findings are about); a log sorted by something else has far more. */
export const OUT_OF_ORDER_WARN_SHARE = 0.05;

export interface OutOfOrder {
  /** Valid events whose `time` was more than `behind_minutes` behind the highest `time` seen before them. */
  events: number;
  behind_minutes: number;
  /** The furthest behind an event arrived, in seconds (0 when none). */
  max_behind_seconds: number;
}

/**
 * Counts events that arrive far behind the watermark. Missing-event rules work in event time but
 * read the log in arrival order: a log sorted by something else makes them report gaps and
 * broken chains that are not there (DESIGN §3). "Far" is the gap grace period.
 */
export class OrderMonitor implements ReplayStage {
  readonly name = 'order-monitor';
  private highMs = Number.NEGATIVE_INFINITY;
  private valid = 0;
  private readonly result: OutOfOrder;

  constructor(private readonly behindMs: number) {
    this.result = { events: 0, behind_minutes: behindMs / 60_000, max_behind_seconds: 0 };
  }

  onValid(e: ReplayEvent): void {
    this.valid++;
    if (e.timeMs >= this.highMs) {
      this.highMs = e.timeMs;
      return;
    }
    const behind = this.highMs - e.timeMs;
    if (behind > this.behindMs) {
      this.result.events++;
      if (behind / 1000 > this.result.max_behind_seconds) this.result.max_behind_seconds = Math.round(behind / 1000);
    }
  }

  summary(): OutOfOrder {
    return { ...this.result };
  }

  /** A sentence when the log is far out of time order, or nothing. */
  warning(): string | undefined {
    const r = this.result;
    if (r.events === 0 || r.events < this.valid * OUT_OF_ORDER_WARN_SHARE) return undefined;
    return (
      `${r.events.toLocaleString('en-US')} of ${this.valid.toLocaleString('en-US')} valid events arrived more than ${r.behind_minutes} minutes behind ` +
      `the latest time seen (up to ${Math.round(r.max_behind_seconds / 60).toLocaleString('en-US')} min): missing-event findings assume the log is in arrival order; ` +
      'sort it by arrival (not by time or id) if it was reordered'
    );
  }
}

/** Counts accepted sales in currencies other than USD: without rates their amount_usd is not checked. */
export class ForeignSales implements ReplayStage {
  readonly name = 'foreign-sales';
  readonly currencies = new Map<string, number>();
  count = 0;

  onAccepted(e: ReplayEvent): void {
    if (e.type !== 'sale.recorded') return;
    const sale = e.event;
    if (sale.type !== 'sale.recorded' || sale.data.currency === 'USD') return;
    this.count++;
    this.currencies.set(sale.data.currency, (this.currencies.get(sale.data.currency) ?? 0) + 1);
  }

  warning(): string | undefined {
    if (this.count === 0) return undefined;
    const list = [...this.currencies.keys()].sort().slice(0, 5).join(', ');
    return `${this.count.toLocaleString('en-US')} sales in currencies other than USD (${list}) were replayed without --rates: their amount_usd was not checked`;
  }
}

/** What the first line of an input says about its format, when it is not NDJSON: a hint, or nothing. */
export function formatHint(name: string, firstLine: string | undefined): string | undefined {
  if (firstLine === undefined) return undefined;
  const t = firstLine.trim();
  const file = name === '-' ? 'FILE' : name;
  if (t.startsWith('[')) return `${name} looks like a JSON array; replay reads one event per line (NDJSON): convert it with  jq -c '.[]' ${file}`;
  if (t === '{') return `${name} looks like pretty-printed JSON; replay reads one event per line (NDJSON): convert it with  jq -c . ${file}`;
  return undefined;
}
