import type { RecordedWatermark } from './store';

/**
 * This instance's view of the watermark: the highest event time it has seen, and the highest
 * value it knows is stored. It writes its record one write at a time and at most once per
 * `stepMs` of wall clock, so a busy stream costs about one watermark write a second per
 * instance, not one per event; the stored watermark trails by at most that step.
 */
export class LocalWatermark {
  private seen = Number.NEGATIVE_INFINITY;
  /** The wall clock when `seen` was last raised: what a tick measures the stream's silence from. */
  private seenAt = Number.NEGATIVE_INFINITY;
  private stored = Number.NEGATIVE_INFINITY;
  private writing = false;
  private lastWriteAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly stepMs: number) {}

  /** Takes an event time; returns the value to write now, with when it was seen, if any (then call `written` or `failed`). */
  observe(timeMs: number, now: number): RecordedWatermark | undefined {
    if (timeMs > this.seen) {
      this.seen = timeMs;
      this.seenAt = now;
    }
    return this.paced(now);
  }

  /**
   * The value to write now, if one is unrecorded, none is being written and a step has passed
   * since the last write: what a delivery writes, and what the tick flushes of a quiet stream. The
   * tick too keeps to the step, so the instance's record sees at most one write a step (a tick
   * right after a delivery's write once made two in one second: tools/scale/measured.json).
   */
  paced(now: number): RecordedWatermark | undefined {
    if (now - this.lastWriteAt < this.stepMs) return undefined;
    if (this.writing || this.seen <= this.stored) return undefined;
    this.writing = true;
    this.lastWriteAt = now;
    return { ms: this.seen, atMs: this.seenAt };
  }

  written(value: number): void {
    this.writing = false;
    this.learn(value);
  }

  failed(): void {
    this.writing = false;
  }

  learn(storedMs: number): void {
    if (storedMs > this.stored) this.stored = storedMs;
  }

  get local(): number {
    return this.seen;
  }

  /** The watermark as far as this instance knows: what it saw, and what it last read. */
  get view(): number {
    return Math.max(this.seen, this.stored);
  }
}

/**
 * Where a scheduler's tick takes the watermark (DESIGN §6b: event time drives it, ticks only let
 * a silent source's gaps and chains come due): the events' watermark plus the wall-clock time
 * that has passed since it was recorded, less the allowed lateness. For live traffic (event time
 * about the wall clock) that is the wall clock less the lateness; for a backfill of last month's
 * log it moves only as the stream stays silent, so a tick during or just after the backfill
 * reports nothing that replay of the same log would not. Undefined when no event raised one.
 */
export function tickWatermark(events: RecordedWatermark | undefined, now: number, allowedLatenessMs: number): number | undefined {
  if (events === undefined) return undefined;
  return events.ms + Math.max(0, now - events.atMs) - allowedLatenessMs;
}
