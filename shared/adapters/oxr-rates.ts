import { z } from 'zod';
import { utcDate } from '../events/time';
import type { Clock, RateLookup, RatesProvider } from '../ports';
import { parseRetryAfter, statusCode, UpstreamError } from './upstream-error';

export const OXR_API_BASE = 'https://openexchangerates.org/api';

export interface OxrRatesOptions {
  readonly appId: string;
  /** Default https://openexchangerates.org/api; a local stand-in serves the same paths. */
  readonly apiBase?: string;
  readonly timeoutMs: number;
  readonly clock: Clock;
  /**
   * How long the rates of the current UTC day (and a day OpenExchangeRates has no rates for
   * yet) are kept: until the day ends its "historical" rates still move. Past days are final
   * and kept for the life of the instance.
   */
  readonly openDayTtlMs?: number;
  /** Days kept at most (oldest use evicted). */
  readonly maxDays?: number;
  readonly fetch?: typeof fetch;
}

const Historical = z.looseObject({
  base: z.literal('USD'),
  rates: z.record(z.string(), z.number().positive().finite()),
});
const ErrorBody = z.looseObject({ message: z.string(), description: z.string().optional() });

interface CachedDay {
  /** `undefined`: OpenExchangeRates has no rates for the day. */
  readonly rates: ReadonlyMap<string, number> | undefined;
  readonly expiresAt: number;
}

/**
 * OpenExchangeRates' historical endpoint (`/historical/YYYY-MM-DD.json`): rates per 1 USD at the
 * end of a UTC day. A day is fetched once per instance; concurrent lookups of a day share one
 * request; a failed fetch is not cached. The app id travels in the Authorization header
 * (`Token …`), never in a URL that could reach a log.
 */
export class OxrRates implements RatesProvider {
  private readonly days = new Map<string, CachedDay>();
  private readonly inFlight = new Map<string, Promise<CachedDay>>();
  private readonly base: string;

  constructor(private readonly options: OxrRatesOptions) {
    this.base = (options.apiBase ?? OXR_API_BASE).replace(/\/+$/, '');
  }

  async rate(currency: string, day: string): Promise<RateLookup> {
    if (currency === 'USD') return { kind: 'rate', rate: 1 };
    const cached = await this.day(day);
    if (!cached.rates) return { kind: 'missing', reason: `no exchange rate for ${currency} on ${day}: OpenExchangeRates has no rates for the day` };
    const rate = cached.rates.get(currency);
    return rate === undefined ? { kind: 'missing', reason: `no exchange rate for ${currency} on ${day}` } : { kind: 'rate', rate };
  }

  private day(day: string): Promise<CachedDay> {
    const now = this.options.clock.now();
    const hit = this.days.get(day);
    if (hit && hit.expiresAt > now) {
      this.days.delete(day); // re-insert: the Map's order is the eviction order
      this.days.set(day, hit);
      return Promise.resolve(hit);
    }
    let pending = this.inFlight.get(day);
    if (!pending) {
      pending = this.fetchDay(day).then(
        (fetched) => {
          this.inFlight.delete(day);
          this.keep(day, fetched);
          return fetched;
        },
        (err: unknown) => {
          this.inFlight.delete(day);
          throw err;
        },
      );
      this.inFlight.set(day, pending);
    }
    return pending;
  }

  private keep(day: string, entry: CachedDay): void {
    this.days.set(day, entry);
    const max = this.options.maxDays ?? 1000;
    while (this.days.size > max) this.days.delete(this.days.keys().next().value!);
  }

  private async fetchDay(day: string): Promise<CachedDay> {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) throw new RangeError(`not a day: ${day}`);
    const doFetch = this.options.fetch ?? fetch;
    let res: Response;
    try {
      res = await doFetch(`${this.base}/historical/${day}.json`, {
        headers: { Authorization: `Token ${this.options.appId}`, Accept: 'application/json' },
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
    } catch (err) {
      const what = (err as Error).name === 'TimeoutError' ? `no answer within ${this.options.timeoutMs} ms` : 'request failed';
      throw new UpstreamError('openexchangerates', what, 'OXR_UNREACHABLE', undefined, undefined, { cause: err });
    }
    const now = this.options.clock.now();
    const body: unknown = await res.json().catch(() => undefined);
    if (res.ok) {
      const parsed = Historical.safeParse(body);
      if (!parsed.success) {
        throw new UpstreamError('openexchangerates', `unexpected historical body: ${z.prettifyError(parsed.error)}`, 'OXR_BAD_RESPONSE', res.status);
      }
      const final = day < utcDate(now);
      return {
        rates: new Map(Object.entries(parsed.data.rates)),
        expiresAt: final ? Number.POSITIVE_INFINITY : now + this.openDayTtl(),
      };
    }
    const error = ErrorBody.safeParse(body);
    const message = error.success ? error.data.message : 'no error body';
    if (res.status === 404 || (res.status === 400 && (message === 'not_available' || message === 'invalid_date'))) {
      // Today or later (an event a few minutes ahead across midnight): not published yet, so
      // ask again on the redelivery. An earlier day without rates (before 1999) is a fact.
      if (day >= utcDate(now)) {
        throw new UpstreamError('openexchangerates', `no rates published yet for ${day}`, 'OXR_DAY_NOT_PUBLISHED', res.status);
      }
      return { rates: undefined, expiresAt: now + this.openDayTtl() };
    }
    const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), now);
    throw new UpstreamError('openexchangerates', `${res.status} ${message}`, statusCode('openexchangerates', res.status), res.status, retryAfterMs);
  }

  private openDayTtl(): number {
    return this.options.openDayTtlMs ?? 3_600_000;
  }
}
