import { RateLimiter } from '../../shared/adapters/rate-limiter';
import { TransientError } from '../../shared/errors';

/**
 * A virtual clock: `sleep` does not pass time, it records when the sleeper would wake, so the
 * schedule of concurrent callers is exact and the test never waits.
 */
function virtual(start = 1_000_000) {
  let now = start;
  const starts: number[] = [];
  return {
    clock: { now: () => now },
    advance: (ms: number) => {
      now += ms;
    },
    sleep: async (ms: number) => {
      starts.push(now + ms);
    },
    starts,
  };
}

/** Starts `n` requests at once; answers when each may go, relative to the start of the clock. */
async function schedule(limiter: RateLimiter, v: ReturnType<typeof virtual>, n: number): Promise<number[]> {
  const out: number[] = [];
  const pending: Array<Promise<void>> = [];
  for (let i = 0; i < n; i++) {
    const before = v.starts.length;
    pending.push(limiter.acquire()); // reserves its slot (and calls sleep) synchronously
    out.push((v.starts.length > before ? v.starts[v.starts.length - 1]! : v.clock.now()) - 1_000_000);
  }
  await Promise.all(pending);
  return out;
}

describe('RateLimiter (GCRA token bucket)', () => {
  it('spaces a burst of requests evenly at the configured rate', async () => {
    const v = virtual();
    const limiter = new RateLimiter({ name: 'stripe', ratePerSecond: 10, clock: v.clock, sleep: v.sleep });
    expect(await schedule(limiter, v, 5)).toEqual([0, 100, 200, 300, 400]);
  });

  it('lets `burst` requests go at once, then the rate', async () => {
    const v = virtual();
    const limiter = new RateLimiter({ name: 'stripe', ratePerSecond: 10, burst: 3, clock: v.clock, sleep: v.sleep });
    expect(await schedule(limiter, v, 6)).toEqual([0, 0, 0, 100, 200, 300]);
  });

  it('never starts more than burst + rate × T requests in a window of T', async () => {
    const v = virtual();
    const limiter = new RateLimiter({ name: 'twilio', ratePerSecond: 25, burst: 5, clock: v.clock, sleep: v.sleep });
    const starts = await schedule(limiter, v, 200);
    for (const t of starts) {
      const inWindow = starts.filter((s) => s >= t && s < t + 1000).length;
      expect(inWindow).toBeLessThanOrEqual(5 + 25);
    }
  });

  it('refills after a quiet spell', async () => {
    const v = virtual();
    const limiter = new RateLimiter({ name: 'stripe', ratePerSecond: 10, clock: v.clock, sleep: v.sleep });
    expect(await schedule(limiter, v, 2)).toEqual([0, 100]);
    v.advance(5000);
    expect(await schedule(limiter, v, 2)).toEqual([5000, 5100]);
  });

  it('honours a pause (Retry-After) before the next slot', async () => {
    const v = virtual();
    const limiter = new RateLimiter({ name: 'stripe', ratePerSecond: 10, burst: 2, clock: v.clock, sleep: v.sleep });
    limiter.pauseUntil(v.clock.now() + 2000);
    expect(await schedule(limiter, v, 3)).toEqual([2000, 2100, 2200]);
  });

  it('fails transiently, without taking a slot, when the wait would exceed maxWaitMs', async () => {
    const v = virtual();
    const limiter = new RateLimiter({ name: 'stripe', ratePerSecond: 10, maxWaitMs: 250, clock: v.clock, sleep: v.sleep });
    expect(await schedule(limiter, v, 3)).toEqual([0, 100, 200]);
    await expect(limiter.acquire()).rejects.toThrow(TransientError);
    await expect(limiter.acquire()).rejects.toMatchObject({ code: 'RATE_LIMITED', message: 'stripe: the request rate limit has no slot for 300 ms' });
    v.advance(100);
    expect(await schedule(limiter, v, 1)).toEqual([300]);
  });
});

describe('RateLimiter under a busy event loop', () => {
  it('holds the rate on actual start times when sleepers wake late together', async () => {
    const clockRef = { now: 0 };
    let schedule: (ms: number) => Promise<void> = async () => undefined;
    const limiter = new RateLimiter({ name: 'stripe', ratePerSecond: 100, clock: { now: () => clockRef.now }, sleep: (ms) => schedule(ms) });
    // The sleep must exist before the first acquire: wire it through a holder.
    const timers: Array<{ at: number; fire: () => void }> = [];
    schedule = (ms) => new Promise<void>((fire) => timers.push({ at: clockRef.now + ms, fire }));
    const starts: number[] = [];
    const n = 250;
    const pending = Array.from({ length: n }, () => limiter.acquire().then(() => void starts.push(clockRef.now)));
    const flush = () => new Promise((r) => setImmediate(r));
    await flush();
    const block = { at: 300, ms: 200 }; // the loop is busy from 300 ms to 500 ms
    while (timers.length > 0) {
      timers.sort((a, b) => a.at - b.at);
      const next = timers.shift()!;
      const due = Math.max(clockRef.now, next.at);
      clockRef.now = due >= block.at && due < block.at + block.ms ? block.at + block.ms : due;
      next.fire();
      await flush();
    }
    await Promise.all(pending);
    expect(starts).toHaveLength(n);
    for (const t of starts) {
      expect(starts.filter((s) => s >= t && s < t + 1000).length).toBeLessThanOrEqual(100);
    }
  });
});
