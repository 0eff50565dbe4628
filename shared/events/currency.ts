/**
 * ISO 4217 minor-unit exponents of the active currency codes. Codes without a minor unit
 * (precious metals, SDR, test codes) are not money and are not accepted.
 */
const EXPONENT_0 = 'BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF';
const EXPONENT_3 = 'BHD IQD JOD KWD LYD OMR TND';
const EXPONENT_4 = 'CLF UYW';
const EXPONENT_2 =
  'AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN ' +
  'BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP ' +
  'GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK ' +
  'LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK ' +
  'NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD ' +
  'SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG ' +
  'YER ZAR ZMW ZWG ZWL';

const table = new Map<string, number>();
for (const [codes, exponent] of [
  [EXPONENT_0, 0],
  [EXPONENT_2, 2],
  [EXPONENT_3, 3],
  [EXPONENT_4, 4],
] as const) {
  for (const code of codes.split(' ')) table.set(code, exponent);
}

/** The ISO 4217 minor-unit exponent of `currency` (USD 2, JPY 0, KWD 3), or `undefined` if unknown. */
export function minorUnitExponent(currency: string): number | undefined {
  return table.get(currency);
}

export function isCurrency(code: string): boolean {
  return table.has(code);
}

/**
 * Stripe's unit for API amounts (`amount`, `amount_received`, `amount_refunded`), which is not
 * always ISO 4217's. From Stripe's "Supported currencies" page (https://docs.stripe.com/currencies,
 * "Zero-decimal currencies", "Three-decimal currencies" and "Special cases"; read 2026-12-06):
 * - zero-decimal: BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF VND VUV XAF XOF XPF (MGA has 2 in ISO);
 * - UGX is in that list too, but its special case overrides it, as ISK's: it "transitioned to a
 *   zero-decimal currency, but backwards compatibility requires you to represent it as a
 *   two-decimal value, where the decimal amount is always 00" (5 ISK is `500`; ISO has 0 for both;
 *   see also https://support.stripe.com/questions/deprecation-of-fractional-isk-charges-and-refunds:
 *   "an ISK amount of 100 will continue to represent 1 króna");
 * - HUF and TWD are zero-decimal "for payouts, even though you can charge two-decimal amounts":
 *   PaymentIntents count them in hundredths, as ISO does;
 * - three-decimal: BHD JOD KWD OMR TND, as ISO (Stripe wants their last digit 0);
 * - every other currency: two-decimal ("unless otherwise specified").
 */
const STRIPE_EXPONENT_0 = 'BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF VND VUV XAF XOF XPF';
const STRIPE_EXPONENT_3 = 'BHD JOD KWD OMR TND';
const STRIPE_TWO_DECIMAL_SPECIAL = 'ISK UGX';

const stripeTable = new Map<string, number>();
for (const [codes, exponent] of [
  [STRIPE_EXPONENT_0, 0],
  [STRIPE_EXPONENT_3, 3],
  [STRIPE_TWO_DECIMAL_SPECIAL, 2],
] as const) {
  for (const code of codes.split(' ')) stripeTable.set(code, exponent);
}

/** The exponent of Stripe's unit for `currency` (ISK 2, MGA 0, JPY 0, KWD 3, EUR 2). */
export function stripeExponent(currency: string): number {
  return stripeTable.get(currency) ?? 2;
}

/**
 * An amount as Stripe counts it, in the event's ISO 4217 minor units: 500000 ISK (Stripe's
 * hundredths) is 5000 (ISO has no minor unit), 5000 MGA (Stripe: whole ariary) is 500000.
 * Not an integer when Stripe holds a fraction of the ISO minor unit (a pre-2023 ISK charge of
 * 40.10 kr): no event amount can equal it.
 */
export function fromStripeAmount(amount: number, currency: string): number {
  const e = minorUnitExponent(currency);
  if (e === undefined) throw new RangeError(`unknown currency ${currency}`);
  const shift = e - stripeExponent(currency);
  return shift >= 0 ? amount * 10 ** shift : amount / 10 ** -shift;
}

/** The other way: an event amount (ISO minor units) as Stripe would count it. */
export function toStripeAmount(amount: number, currency: string): number {
  const e = minorUnitExponent(currency);
  if (e === undefined) throw new RangeError(`unknown currency ${currency}`);
  const shift = stripeExponent(currency) - e;
  return shift >= 0 ? amount * 10 ** shift : amount / 10 ** -shift;
}

/**
 * Converts an amount in minor units of `currency` to US cents with an OpenExchangeRates rate
 * (units of currency per 1 USD), exactly as DESIGN §2 specifies:
 * `Math.round(amount * 100 / 10**e / rate)`.
 */
export function toUsdCents(amount: number, currency: string, rate: number): number {
  const e = minorUnitExponent(currency);
  if (e === undefined) throw new RangeError(`unknown currency ${currency}`);
  return Math.round((amount * 100) / 10 ** e / rate);
}
