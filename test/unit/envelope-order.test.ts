import { inEnvelopeOrder, sameInEnvelopeOrder } from '../../shared/events/compiled';
import { validateJson } from '../../shared/events/validate';
import { fuzzChunks } from '../../tools/fuzz/hostile';
import * as fx from '../support/events';

/** Equal JSON values with every object's keys in the same order. */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object' || Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

const ctx = { now: Date.parse('2026-12-01T00:00:00Z'), maxFutureMs: 5 * 60_000 };
const INTEGER_LIKE = /^(0|[1-9]\d*)$/;

/** sameInEnvelopeOrder answers what comparing with inEnvelopeOrder's copy answers, without the copy. */
describe('sameInEnvelopeOrder', () => {
  const pairs = (): Array<[Record<string, unknown>, Record<string, unknown>]> => {
    const out: Array<[Record<string, unknown>, Record<string, unknown>]> = [];
    const text = Buffer.concat([...fuzzChunks(13, { lines: 3_000, probeEvery: 97, oversized: 0 }, [])]).toString('utf8');
    const lines = text.split('\n');
    const sale = fx.saleRecorded({ id: 's' });
    const { type, ...rest } = sale;
    lines.push(
      JSON.stringify({ type, ...rest }), // type first, as producers write it
      JSON.stringify({ ...sale, 'x-ext': 1, 7: 'integer-like' }),
      JSON.stringify({ 'x-first': true, ...sale }),
      JSON.stringify({ ...sale, data: Object.fromEntries(Object.entries(sale.data).reverse()) }),
      `{"__proto__":{"a":1},${JSON.stringify(sale).slice(1)}`,
    );
    for (const line of lines) {
      const v = validateJson(line, ctx);
      if (!v.ok || v.decoded === null || typeof v.decoded !== 'object') continue;
      const decoded = v.decoded as Record<string, unknown>;
      const event = v.event as unknown as Record<string, unknown>;
      out.push([decoded, event], [decoded, inEnvelopeOrder(decoded)], [decoded, { ...event, extra: 1 }]);
    }
    return out;
  };

  it('agrees with sameJson(inEnvelopeOrder(value), object) on the fuzz corpus and crafted events, never true where it is false', () => {
    let agreed = 0;
    let yes = 0;
    for (const [decoded, object] of pairs()) {
      const fast = sameInEnvelopeOrder(decoded, object, sameJson);
      const slow = sameJson(inEnvelopeOrder(decoded), object);
      if (fast) expect(slow).toBe(true);
      // An integer-like key is listed first wherever it was put: only then may the answers differ.
      if (!Object.keys(decoded).some((k) => INTEGER_LIKE.test(k))) expect(fast).toBe(slow);
      if (fast === slow) agreed++;
      if (fast) yes++;
    }
    expect(agreed).toBeGreaterThan(1_000);
    expect(yes).toBeGreaterThan(500);
  });
});
