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
 * Converts an amount in minor units of `currency` to US cents with an OpenExchangeRates rate
 * (units of currency per 1 USD), exactly as DESIGN §2 specifies:
 * `Math.round(amount * 100 / 10**e / rate)`.
 */
export function toUsdCents(amount: number, currency: string, rate: number): number {
  const e = minorUnitExponent(currency);
  if (e === undefined) throw new RangeError(`unknown currency ${currency}`);
  return Math.round((amount * 100) / 10 ** e / rate);
}
