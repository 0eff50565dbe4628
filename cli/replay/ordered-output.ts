/**
 * Keeps a replay's outputs in input order while external lookups (Stripe, Twilio) run several at
 * a time. A stage that starts a lookup holds a place in the output; whatever is written after it
 * waits behind that place until the lookup settles, then everything goes out in the order it was
 * written. With nothing held, a write goes straight through (the single-threaded hot path).
 */

/** A place held in the output for a lookup; filled with what the lookup's answer emits. */
interface Hole {
  state: 'pending' | 'ready' | 'failed';
  /** What to write once every earlier write has gone out (when ready). */
  run?: () => void;
  error?: unknown;
}

type Item = (() => void) | Hole;

export interface OrderedOutputLimits {
  /** Lookups that may be pending at once; at this many, the input waits for one to settle. */
  readonly maxInFlight: number;
  /** Writes that may wait behind the oldest pending lookup before the input waits for it. */
  readonly maxBuffered: number;
}

/** How many writes may queue behind a slow lookup (an event line each, a few hundred bytes). */
export const DEFAULT_MAX_BUFFERED = 65_536;

export class OrderedOutput {
  private queue: Item[] = [];
  private head = 0;
  private pending = 0;
  private flushing = false;
  private stopped = false;
  /** The first failed lookup in input order, once every write before it has gone out. */
  private failure: { error: unknown } | undefined;
  /** Wakes whoever waits for a lookup to settle or for the queue to move. */
  private wake: (() => void) | undefined;

  constructor(private readonly limits: OrderedOutputLimits) {
    if (!(Number.isInteger(limits.maxInFlight) && limits.maxInFlight >= 1)) throw new RangeError('maxInFlight must be a whole number of at least 1');
  }

  /** Writes now when nothing is held, else after everything held before it. */
  write(w: () => void): void {
    if (this.stopped) return;
    if (this.idle) w();
    else this.queue.push(w);
  }

  /** Whether a write would go straight through (lets the caller skip allocating a closure). */
  get idle(): boolean {
    return this.flushing || this.head === this.queue.length;
  }

  /**
   * Holds a place for the outcome of `pending`: it settles to what should be written there. A
   * rejection stops the output at that place; {@link check} then throws it.
   */
  hold(pending: Promise<() => void>): void {
    if (this.stopped) {
      pending.catch(() => undefined);
      return;
    }
    const hole: Hole = { state: 'pending' };
    this.queue.push(hole);
    this.pending++;
    pending.then(
      (run) => this.settle(hole, 'ready', run),
      (error: unknown) => this.settle(hole, 'failed', undefined, error),
    );
  }

  /** Throws the error of the first failed lookup in input order, once the output has reached it. */
  check(): void {
    if (this.failure) throw this.failure.error;
  }

  /**
   * `undefined` while the input may go on; otherwise a promise that resolves when it may (a lookup
   * settled, or the writes held behind the oldest one went out), and rejects with the first
   * failure in input order.
   */
  ready(): Promise<void> | undefined {
    this.check();
    if (this.pending < this.limits.maxInFlight && this.queue.length - this.head < this.limits.maxBuffered) return undefined;
    return this.next().then(() => this.ready());
  }

  /** Resolves when every held place has been written; rejects with the first failure in input order. */
  async drain(): Promise<void> {
    for (;;) {
      this.check();
      if (this.head === this.queue.length) return;
      await this.next();
    }
  }

  /** The run stopped: nothing more is written, and lookups still pending are let go. */
  stop(): void {
    this.stopped = true;
    this.queue = [];
    this.head = 0;
    this.wake?.();
  }

  private next(): Promise<void> {
    return new Promise<void>((resolve) => {
      const previous = this.wake;
      this.wake = () => {
        previous?.();
        resolve();
      };
    });
  }

  private settle(hole: Hole, state: 'ready' | 'failed', run?: () => void, error?: unknown): void {
    this.pending--;
    hole.state = state;
    if (run) hole.run = run;
    if (state === 'failed') hole.error = error;
    if (!this.stopped) {
      try {
        this.flush();
      } catch (err) {
        // A write that failed (a full disk) ends the run as a failed lookup would.
        this.failure ??= { error: err };
        this.stop();
      }
    }
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Writes from the front of the queue up to the first place still pending (or failed). */
  private flush(): void {
    const q = this.queue;
    this.flushing = true;
    try {
      while (this.head < q.length) {
        const item = q[this.head]!;
        if (typeof item === 'function') item();
        else if (item.state === 'ready') item.run!();
        else {
          if (item.state === 'failed') this.failure ??= { error: item.error };
          break;
        }
        q[this.head++] = undefined as unknown as Item;
      }
    } finally {
      this.flushing = false;
    }
    if (this.head === q.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 4096 && this.head * 2 > q.length) {
      this.queue = q.slice(this.head);
      this.head = 0;
    }
  }
}
