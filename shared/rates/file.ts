import { z } from 'zod';

/**
 * The `--rates` file of DESIGN §7: OpenExchangeRates-style rates, units of currency per 1 USD,
 * per UTC date: `{"base": "USD", "days": {"2026-03-01": {"EUR": 0.92, "JPY": 151.3}}}`.
 */
export const RatesFile = z.object({
  base: z.literal('USD', { message: 'must be "USD" (rates are units of currency per 1 USD)' }),
  days: z.record(
    z.string().regex(/^\d{4}-\d{2}-\d{2}$/, { message: 'must be a date YYYY-MM-DD' }),
    z.record(z.string().regex(/^[A-Z]{3}$/, { message: 'must be an ISO 4217 code' }), z.number().positive()),
  ),
});
export type RatesFile = z.infer<typeof RatesFile>;
