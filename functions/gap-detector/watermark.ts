/**
 * This instance's view of the watermark: the highest event time it has seen, and the highest
 * value it knows is stored. It writes its record one write at a time and at most once per
 * `stepMs` of wall clock, so a busy stream costs about one watermark write a second per
 * instance, not one per event; the stored watermark trails by at most that step.
 */
export class LocalWatermark {
  private seen = Number.NEGATIVE_INFINITY;
  private stored = Number.NEGATIVE_INFINITY;
  private writing = false;
  private lastWriteAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly stepMs: number) {}

  /** Takes an event time; returns the value to write now, if any (then call `written` or `failed`). */
  observe(timeMs: number, now: number): number | undefined {
    if (timeMs > this.seen) this.seen = timeMs;
    if (now - this.lastWriteAt < this.stepMs) return undefined;
    return this.unrecorded(now);
  }

  /** The value to write regardless of the step (the tick), if one is unrecorded and none is being written. */
  unrecorded(now: number): number | undefined {
    if (this.writing || this.seen <= this.stored) return undefined;
    this.writing = true;
    this.lastWriteAt = now;
    return this.seen;
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
