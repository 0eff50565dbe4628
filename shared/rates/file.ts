import { z } from 'zod';
import { parseRfc3339 } from '../events/time';

/**
 * The `--rates` file of DESIGN §7: OpenExchangeRates-style rates, units of currency per 1 USD,
 * per UTC date: `{"base": "USD", "days": {"2026-03-01": {"EUR": 0.92, "JPY": 151.3}}}`.
 */
export const RatesFile = z.object({
  base: z.literal('USD', { message: 'must be "USD" (rates are units of currency per 1 USD)' }),
  days: z
    .record(z.string(), z.record(z.string().regex(/^[A-Z]{3}$/, { message: 'must be an ISO 4217 code' }), z.number().positive()))
    .superRefine((days, ctx) => {
      const dates = Object.keys(days);
      // Without a single day every non-USD sale would go to review for want of a rate.
      if (dates.length === 0) ctx.addIssue({ code: 'custom', message: 'must hold at least one day' });
      for (const d of dates) {
        // Checked here, not as the record's key schema: zod reports a bad key only as "Invalid key in record".
        if (!/^\d{4}-\d{2}-\d{2}$/.test(d)) ctx.addIssue({ code: 'custom', path: [d], message: 'must be a date YYYY-MM-DD' });
        else if (parseRfc3339(`${d}T00:00:00Z`) === undefined) ctx.addIssue({ code: 'custom', path: [d], message: 'must be a real date YYYY-MM-DD' });
      }
    }),
});
export type RatesFile = z.infer<typeof RatesFile>;
