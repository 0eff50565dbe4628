import type { RateLookup, RatesProvider } from '../ports';
import type { RatesFile } from '../rates/file';

/**
 * Rates from a `--rates` file (DESIGN §7), for replay and local runs. `lookup` answers
 * synchronously, so replay stays synchronous where no other lookup is needed.
 */
export class FileRates implements RatesProvider {
  constructor(private readonly file: RatesFile) {}

  lookup(currency: string, day: string): RateLookup {
    if (currency === 'USD') return { kind: 'rate', rate: 1 };
    const days = this.file.days;
    const rates = Object.hasOwn(days, day) ? days[day] : undefined;
    const rate = rates && Object.hasOwn(rates, currency) ? rates[currency] : undefined;
    return rate === undefined ? { kind: 'missing', reason: `no exchange rate for ${currency} on ${day}` } : { kind: 'rate', rate };
  }

  async rate(currency: string, day: string): Promise<RateLookup> {
    return this.lookup(currency, day);
  }
}
