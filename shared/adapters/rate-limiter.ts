import { TransientError } from '../errors';
import type { Clock } from '../ports';

export type Sleep = (ms: number) => Promise<void>;
export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export interface RateLimiterOptions {
  /** Sustained requests per second. */
  readonly ratePerSecond: number;
  /** Requests that may go at once after a quiet spell (default 1: evenly spaced). */
  readonly burst?: number;
  /**
   * The longest a caller waits for its slot. Beyond it `acquire` throws a TransientError without
   * taking a slot, so a burst of messages is redelivered later instead of outliving its ack
   * deadline while queued here.
   */
  readonly maxWaitMs?: number;
  readonly clock: Clock;
  readonly sleep?: Sleep;
  /** Names the limited API in errors. */
  readonly name: string;
}

/**
 * A token bucket in its GCRA form: each request reserves the next slot of a schedule spaced
 * `1000 / ratePerSecond` ms apart, so in any window of T ms at most `burst + T * rate / 1000`
 * requests start. One per API client and instance; awaited before every call.
 *
 * The reservation tells a caller how long to sleep; the bound is then enforced again on the time
 * it actually starts. A timer fires late when the event loop is busy, and sleepers due during a
 * busy spell all wake together: started as they wake, they would bunch above the rate.
 */
export class RateLimiter {
  private readonly intervalMs: number;
  private readonly toleranceMs: number;
  /** The theoretical arrival time of the next request, over reserved slots. */
  private tat = Number.NEGATIVE_INFINITY;
  /** The same over the times requests actually started. */
  private startedTat = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: RateLimiterOptions) {
    if (!(options.ratePerSecond > 0)) throw new RangeError('ratePerSecond must be positive');
    const burst = Math.max(1, Math.floor(options.burst ?? 1));
    this.intervalMs = 1000 / options.ratePerSecond;
    this.toleranceMs = (burst - 1) * this.intervalMs;
  }

  /** Waits for this request's slot. */
  async acquire(): Promise<void> {
    const now = this.options.clock.now();
    const start = Math.max(this.tat, now);
    const wait = start - this.toleranceMs - now;
    const maxWait = this.options.maxWaitMs ?? Number.POSITIVE_INFINITY;
    if (wait > maxWait) {
      throw new TransientError(`${this.options.name}: the request rate limit has no slot for ${Math.ceil(wait)} ms`, 'RATE_LIMITED');
    }
    this.tat = start + this.intervalMs;
    const sleep = this.options.sleep ?? realSleep;
    if (wait > 0) await sleep(wait);
    // A caller is never early for its reserved slot; it may be late, together with others.
    for (;;) {
      const woke = Math.max(this.options.clock.now(), start - this.toleranceMs);
      const late = this.startedTat - this.toleranceMs - woke;
      if (late <= 0) {
        this.startedTat = Math.max(this.startedTat, woke) + this.intervalMs;
        return;
      }
      await sleep(late);
    }
  }

  /** No request starts before `ms` (epoch): the API asked us to back off (Retry-After). */
  pauseUntil(ms: number): void {
    this.tat = Math.max(this.tat, ms + this.toleranceMs);
    this.startedTat = Math.max(this.startedTat, ms + this.toleranceMs);
  }
}
