import {
  checkSale,
  exceedsReviewFactor,
  isFxMismatch,
  lineItemsTotal,
  type PaymentFact,
  type RateFact,
  type SaleFacts,
} from '../../functions/revenue-checker/core';
import { toUsdCents } from '../../shared/events/currency';
import { SaleRecorded } from '../../shared/events/envelope';
import { saleRecorded } from '../support/events';

const ctx = { now: Date.parse('2026-03-01T12:00:00Z'), config: { reviewFactor: 3 } };
const rate = (r: number): RateFact => ({ kind: 'rate', rate: r });
const unchecked: PaymentFact = { kind: 'unchecked' };
const about = { event_id: 'sale-1', type: 'sale.recorded', source: '//test/producer' };

/** A sale of one line item (so the total is `unit × qty`), parsed by the real schema. */
function sale(currency: string, unit: number, amount: number, amountUsd: number, extra: Record<string, unknown> = {}): SaleRecorded {
  return SaleRecorded.parse(
    saleRecorded({ id: 'sale-1', data: { line_items: [{ sku: 'sku-a', unit_amount: unit, quantity: 1 }], amount, currency, amount_usd: amountUsd, ...extra } }),
  );
}

function facts(r: RateFact, payment: PaymentFact = unchecked): SaleFacts {
  return { rate: r, payment };
}

describe('the conversion of DESIGN §2 for every minor-unit exponent of the catalog', () => {
  it.each([
    // currency, exponent, amount (minor units), rate (per USD), US cents, a sale recorded unconverted (amount_usd = amount)
    ['USD', 2, 3500, 1, 3500, 'clean'],
    ['EUR', 2, 10000, 0.92, 10870, 'corrected'],
    ['JPY', 0, 15130, 151.3, 10000, 'corrected'],
    ['JPY', 0, 1500, 151.3, 991, 'corrected'],
    ['ISK', 0, 5000, 138.5, 3610, 'corrected'],
    ['KWD', 3, 30700, 0.307, 10000, 'review'], // 30700 → 10000 is more than 3× down
    ['KWD', 3, 1234, 0.307, 402, 'review'],
    ['BHD', 3, 3770, 0.377, 1000, 'review'],
    ['CLF', 4, 245, 0.0245, 100, 'corrected'],
    ['CLF', 4, 12345, 0.0245, 5039, 'corrected'],
  ] as const)('%s (exponent %i): %i at %f is %i US cents; recorded unconverted it is %s', (currency, _e, amount, r, cents, unconverted) => {
    expect(toUsdCents(amount, currency, r)).toBe(cents);
    expect(checkSale(sale(currency, amount, amount, cents), facts(rate(r)), ctx)).toEqual({ findings: [] });
    const outcome = checkSale(sale(currency, amount, amount, amount), facts(rate(r)), ctx);
    if (unconverted === 'clean') {
      expect(outcome).toEqual({ findings: [] });
      return;
    }
    const held = unconverted === 'review';
    expect(outcome.findings).toEqual([
      {
        kind: 'fx_mismatch',
        action: unconverted,
        ...about,
        field: 'amount_usd',
        expected: cents,
        actual: amount,
        ...(held ? { reason: `correction held for review: the correction would move amount_usd from ${amount} to ${cents} US cents, beyond the review factor 3` } : {}),
      },
    ]);
    expect(outcome.correction?.data).toEqual(held ? undefined : expect.objectContaining({ amount, amount_usd: cents, fx_rate: r }));
  });

  it.each([
    // half a cent rounds up (Math.round), below half rounds down
    [1, 0.8, 1], // 1.25
    [2, 0.8, 3], // 2.5
    [3, 0.8, 4], // 3.75
    [1, 2, 1], // 0.5
    [3, 2, 2], // 1.5
  ])('rounds %i GBP pence at %f to %i cents', (amount, r, cents) => {
    expect(toUsdCents(amount, 'GBP', r)).toBe(cents);
  });
});

describe('the tolerance: beyond both 1 cent and 0.5 %', () => {
  it.each([
    [10000, 10050, false], // exactly 0.5 %
    [10000, 10051, true],
    [10000, 9950, false],
    [10000, 9949, true],
    [100, 101, false], // 1 cent is always tolerated
    [100, 102, true],
    [200, 198, true],
    [1000000, 1000001, false],
    [0, 1, false],
    [0, 2, true],
    [500, 500, false],
  ])('expected %i, recorded %i: mismatch %s', (expected, actual, mismatch) => {
    expect(isFxMismatch(expected, actual)).toBe(mismatch);
  });

  it('applies it to the sale: 0.5 % off is accepted, one cent more is corrected', () => {
    expect(checkSale(sale('EUR', 10000, 10000, 10870 + 54), facts(rate(0.92)), ctx).findings).toEqual([]); // 54 * 200 = 10800 ≤ 10870
    const outcome = checkSale(sale('EUR', 10000, 10000, 10870 + 55), facts(rate(0.92)), ctx); // 11000 > 10870
    expect(outcome.findings).toEqual([{ kind: 'fx_mismatch', action: 'corrected', ...about, field: 'amount_usd', expected: 10870, actual: 10925 }]);
    expect(outcome.correction?.data).toMatchObject({ amount: 10000, amount_usd: 10870, fx_rate: 0.92 });
  });
});

describe('the review factor, either way', () => {
  it.each([
    [1000, 3000, false],
    [1000, 3001, true],
    [3000, 1000, false],
    [3000, 999, true],
    [0, 1, true], // a recorded 0 always counts as more
    [0, 0, false],
    [5, 0, true],
    [1000, 1000, false],
  ])('recorded %i → corrected %i: review %s', (recorded, corrected, review) => {
    expect(exceedsReviewFactor(recorded, corrected, 3)).toBe(review);
  });

  it('holds a correction that moves amount_usd up more than 3× and publishes none', () => {
    // JPY recorded as if it had 2 decimals: 15130 yen → "151.30 yen" → 100 cents.
    const outcome = checkSale(sale('JPY', 15130, 15130, 100), facts(rate(151.3)), ctx);
    expect(outcome).toEqual({
      findings: [
        {
          kind: 'fx_mismatch',
          action: 'review',
          ...about,
          field: 'amount_usd',
          expected: 10000,
          actual: 100,
          reason: 'correction held for review: the correction would move amount_usd from 100 to 10000 US cents, beyond the review factor 3',
        },
      ],
    });
  });

  it('holds a correction that moves amount_usd down more than 3×', () => {
    // KWD recorded as if it had 2 decimals: 30700 fils → "307.00 KWD" → 100000 cents.
    const outcome = checkSale(sale('KWD', 30700, 30700, 100000), facts(rate(0.307)), ctx);
    expect(outcome.correction).toBeUndefined();
    expect(outcome.findings).toEqual([expect.objectContaining({ kind: 'fx_mismatch', action: 'review', expected: 10000, actual: 100000 })]);
  });

  it('takes the factor from the configuration', () => {
    const outcome = checkSale(sale('JPY', 15130, 15130, 100), facts(rate(151.3)), { ...ctx, config: { reviewFactor: 200 } });
    expect(outcome.findings).toEqual([expect.objectContaining({ action: 'corrected' })]);
    expect(outcome.correction?.data.amount_usd).toBe(10000);
  });
});

describe('amount and line items', () => {
  it('sums unit_amount × quantity', () => {
    expect(lineItemsTotal([{ sku: 'a', unit_amount: 1500, quantity: 2 }, { sku: 'b', unit_amount: 500, quantity: 1 }])).toBe(3500);
    expect(lineItemsTotal([{ sku: 'a', unit_amount: Number.MAX_SAFE_INTEGER, quantity: 2 }])).toBeUndefined();
  });

  it('corrects a wrong USD total and recomputes amount_usd in the same correction', () => {
    const original = SaleRecorded.parse(saleRecorded({ id: 'sale-1', data: { amount: 3400, amount_usd: 3400 } }));
    const outcome = checkSale(original, facts({ kind: 'unchecked', reason: 'no rates' }), ctx);
    expect(outcome.findings).toEqual([{ kind: 'amount_mismatch', action: 'corrected', ...about, field: 'amount', expected: 3500, actual: 3400 }]);
    expect(outcome.correction).toEqual({
      specversion: '1.0',
      id: expect.stringMatching(/^corr-/),
      source: '//event-recovery/revenue-checker',
      type: 'sale.recorded',
      time: original.time,
      correctionof: 'sale-1',
      data: { ...original.data, amount: 3500, amount_usd: 3500 },
    });
  });

  it('carries every fix in one correction: a wrong total and a wrong conversion', () => {
    // line items 10000 EUR; recorded 9000 and unconverted
    const outcome = checkSale(sale('EUR', 10000, 9000, 9000), facts(rate(0.92)), ctx);
    expect(outcome.findings).toEqual([
      { kind: 'amount_mismatch', action: 'corrected', ...about, field: 'amount', expected: 10000, actual: 9000 },
      { kind: 'fx_mismatch', action: 'corrected', ...about, field: 'amount_usd', expected: 9783, actual: 9000 },
    ]);
    expect(outcome.correction?.data).toMatchObject({ amount: 10000, amount_usd: 10870, fx_rate: 0.92 });
  });

  it('gives the same correction id for the same original and rule, whatever the fix', () => {
    const a = checkSale(sale('EUR', 10000, 9000, 9000), facts(rate(0.92)), ctx).correction!;
    const b = checkSale(sale('EUR', 10000, 10000, 10000), facts(rate(0.92)), ctx).correction!;
    expect(a.id).toBe(b.id);
  });

  it('cannot recompute amount_usd without a rate: review, no correction', () => {
    const outcome = checkSale(sale('EUR', 10000, 9000, 9783), facts({ kind: 'unchecked', reason: 'no exchange rates (replay without --rates)' }), ctx);
    expect(outcome).toEqual({
      findings: [
        {
          kind: 'amount_mismatch',
          action: 'review',
          ...about,
          field: 'amount',
          expected: 10000,
          actual: 9000,
          reason: 'correction held for review: amount_usd cannot be recomputed: no exchange rates (replay without --rates)',
        },
      ],
    });
  });

  it('reports a missing rate for the day as a review finding, and holds any fix', () => {
    const missing: RateFact = { kind: 'missing', reason: 'no exchange rate for EUR on 2026-03-01' };
    expect(checkSale(sale('EUR', 10000, 10000, 10870), facts(missing), ctx)).toEqual({
      findings: [{ kind: 'fx_mismatch', action: 'review', ...about, field: 'amount_usd', actual: 10870, reason: 'no exchange rate for EUR on 2026-03-01' }],
    });
    const both = checkSale(sale('EUR', 10000, 9000, 9783), facts(missing), ctx);
    expect(both.correction).toBeUndefined();
    expect(both.findings.map((f) => [f.kind, f.action, f.reason])).toEqual([
      ['amount_mismatch', 'review', 'correction held for review: no exchange rate for EUR on 2026-03-01'],
      ['fx_mismatch', 'review', 'no exchange rate for EUR on 2026-03-01'],
    ]);
  });

  it('needs no rate table for USD', () => {
    expect(checkSale(sale('USD', 500, 500, 500), facts({ kind: 'missing', reason: 'unused' }), ctx).findings).toEqual([]);
  });
});

describe('zero amounts', () => {
  it('accepts a free sale', () => {
    expect(checkSale(sale('EUR', 0, 0, 0), facts(rate(0.92)), ctx)).toEqual({ findings: [] });
  });

  it('holds a correction from a recorded 0 for review', () => {
    const outcome = checkSale(sale('USD', 500, 500, 0), facts(rate(1)), ctx);
    expect(outcome.findings).toEqual([expect.objectContaining({ kind: 'fx_mismatch', action: 'review', expected: 500, actual: 0 })]);
    expect(outcome.correction).toBeUndefined();
  });

  it('holds a correction to 0 for review', () => {
    // line items say free; recorded 500 USD
    const outcome = checkSale(sale('USD', 0, 500, 500), facts(rate(1)), ctx);
    expect(outcome.findings).toEqual([expect.objectContaining({ kind: 'amount_mismatch', action: 'review', expected: 0, actual: 500 })]);
  });

  it('tolerates 1 cent on a 0 conversion', () => {
    expect(checkSale(sale('EUR', 0, 0, 1), facts(rate(0.92)), ctx).findings).toEqual([]);
  });
});

describe('the payment, as Stripe reports it', () => {
  const pi = 'pi_123';
  const found = (over: Partial<{ status: string; amount: number; currency: string; amountRefunded: number; amountReceived: number; disputed: boolean }> = {}): PaymentFact => ({
    kind: 'found',
    payment: { id: pi, status: 'succeeded', amount: 10000, currency: 'EUR', amountRefunded: 0, amountReceived: over.amount ?? 10000, disputed: false, ...over },
  });
  const paid = (unit = 10000, amount = 10000, usd = 10870) => sale('EUR', unit, amount, usd, { payment_intent_id: pi });

  it('accepts a succeeded PaymentIntent of the same amount and currency', () => {
    expect(checkSale(paid(), facts(rate(0.92), found()), ctx)).toEqual({ findings: [] });
  });

  it.each<[string, PaymentFact, Record<string, unknown>]>([
    ['failed', found({ status: 'requires_payment_method' }), { field: 'status', expected: 'succeeded', actual: 'requires_payment_method', reason: 'Stripe reports PaymentIntent pi_123 as requires_payment_method' }],
    ['refunded', found({ amountRefunded: 2500 }), { field: 'amount_refunded', expected: 0, actual: 2500, reason: 'Stripe reports 2500 of 10000 EUR minor units of pi_123 refunded' }],
    ['captured in part (amount_received below amount)', found({ amountReceived: 7500 }), { field: 'amount_received', expected: 10000, actual: 7500, reason: 'Stripe received 7500 of 10000 EUR minor units for pi_123 (a partial capture)' }],
    ['of another amount', found({ amount: 9000 }), { field: 'amount', expected: 9000, actual: 10000, reason: 'Stripe charged 9000 EUR minor units for pi_123; the line items total 10000' }],
    ['in another currency', found({ currency: 'USD' }), { field: 'currency', expected: 'USD', actual: 'EUR', reason: 'Stripe charged pi_123 in USD; the sale is recorded in EUR' }],
    ['unknown to Stripe', { kind: 'not_found', reason: "Stripe: No such payment_intent: 'pi_123'" }, { field: 'payment_intent_id', actual: pi, reason: "Stripe: No such payment_intent: 'pi_123'" }],
  ])('reports a payment %s for review', (_name, payment, expected) => {
    expect(checkSale(paid(), facts(rate(0.92), payment), ctx)).toEqual({ findings: [{ kind: 'payment_mismatch', action: 'review', ...about, ...expected }] });
  });

  it('reports a succeeded payment whose charge is disputed, nothing refunded, for review', () => {
    expect(checkSale(paid(), facts(rate(0.92), found({ disputed: true })), ctx)).toEqual({
      findings: [
        { kind: 'payment_mismatch', action: 'review', ...about, field: 'dispute', expected: false, actual: true, reason: 'Stripe reports the charge of PaymentIntent pi_123 disputed: the payment may be taken back' },
      ],
    });
  });

  it.each([
    // currency, the sale's amount (ISO minor units), Stripe's amount (its own unit), rate
    ['ISK', 5000, 500000, 138.5], // ISO 0 decimals, Stripe hundredths
    ['UGX', 37000, 3700000, 3700], // the same special case
    ['MGA', 4_500_000, 45000, 4500], // ISO 2 decimals, Stripe zero-decimal
    ['JPY', 15130, 15130, 151.3],
    ['KWD', 30700, 30700, 0.307],
    ['HUF', 350000, 350000, 350], // zero-decimal for Stripe payouts only: charges in hundredths
  ])('compares %s with Stripe after converting to its unit', (currency, amount, stripeAmount, r) => {
    const usd = toUsdCents(amount, currency, r);
    const s = sale(currency, amount, amount, usd, { payment_intent_id: pi });
    const payment = (over: Record<string, unknown> = {}): PaymentFact => ({
      kind: 'found',
      payment: { id: pi, status: 'succeeded', amount: stripeAmount, currency, amountRefunded: 0, amountReceived: stripeAmount, disputed: false, ...over },
    });
    expect(checkSale(s, facts(rate(r), payment()), ctx)).toEqual({ findings: [] });
    // Stripe's amount read as if it were ISO units would be off by 100x wherever the units differ.
    const refunded = checkSale(s, facts(rate(r), payment({ amountRefunded: stripeAmount })), ctx);
    expect(refunded.findings).toEqual([expect.objectContaining({ field: 'amount_refunded', expected: 0, actual: amount })]);
  });

  it('compares what was paid with what was sold: a wrong recorded total that Stripe confirms is corrected', () => {
    // recorded 9000 EUR, converted correctly (9783); the line items and Stripe say 10000
    const outcome = checkSale(paid(10000, 9000, 9783), facts(rate(0.92), found()), ctx);
    expect(outcome.findings).toEqual([{ kind: 'amount_mismatch', action: 'corrected', ...about, field: 'amount', expected: 10000, actual: 9000 }]);
    expect(outcome.correction?.data).toMatchObject({ amount: 10000, amount_usd: 10870 });
  });

  it('holds every fix of a sale whose payment needs a person', () => {
    const outcome = checkSale(paid(10000, 10000, 10000), facts(rate(0.92), found({ status: 'canceled' })), ctx);
    expect(outcome.correction).toBeUndefined();
    expect(outcome.findings).toEqual([
      { kind: 'fx_mismatch', action: 'review', ...about, field: 'amount_usd', expected: 10870, actual: 10000, reason: 'correction held for review: Stripe reports PaymentIntent pi_123 as canceled' },
      { kind: 'payment_mismatch', action: 'review', ...about, field: 'status', expected: 'succeeded', actual: 'canceled', reason: 'Stripe reports PaymentIntent pi_123 as canceled' },
    ]);
  });
});
