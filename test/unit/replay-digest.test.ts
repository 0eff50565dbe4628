import { begin, digest128, feedJson, feedString, feedText, finish } from '../../cli/replay/digest';
import { canonicalJson } from '../../shared/events/keys';

const digestOf = (text: string) => {
  const out = new Uint32Array(4);
  digest128(text, out, 0);
  return out;
};
const hex = (d: Uint32Array) => [...d].map((w) => w.toString(16).padStart(8, '0')).join('');
const popcount = (x: number) => {
  let n = 0;
  for (let v = x >>> 0; v !== 0; v &= v - 1) n++;
  return n;
};

describe('replay key digest (128 bits)', () => {
  it('is a function of the text alone, and writes at the offset', () => {
    const out = new Uint32Array(12).fill(7);
    digest128('["card.scanned","card-1"]', out, 4);
    expect([...out.subarray(4, 8)]).toEqual([...digestOf('["card.scanned","card-1"]')]);
    expect([...out.subarray(0, 4)]).toEqual([7, 7, 7, 7]);
    expect([...out.subarray(8)]).toEqual([7, 7, 7, 7]);
  });

  it('tells apart texts that differ by length, a trailing NUL, order, or one character', () => {
    const texts = ['', 'a', 'a\u0000', '\u0000a', 'ab', 'ba', 'abc', 'abd', 'é', 'e\u0301', '\u{1F600}', 'card-1', 'card-10'];
    expect(new Set(texts.map((t) => hex(digestOf(t)))).size).toBe(texts.length);
  });

  it('has no collisions over 30,000 similar keys, and each 32-bit lane collides only as often as chance', () => {
    const n = 30_000;
    const full = new Set<string>();
    const lanes = [new Set<number>(), new Set<number>(), new Set<number>(), new Set<number>()];
    for (let i = 0; i < n; i++) {
      const d = digestOf(`["sale.recorded","order-${i}"]`);
      full.add(hex(d));
      d.forEach((w, lane) => lanes[lane]!.add(w));
    }
    expect(full.size).toBe(n);
    // Chance alone gives n²/2^33 ≈ 0.1 collisions per 32-bit lane.
    for (const lane of lanes) expect(n - lane.size).toBeLessThan(4);
  });

  it('changes about half of the 128 bits when one input bit changes (avalanche)', () => {
    let flips = 0;
    let samples = 0;
    for (let i = 0; i < 2000; i++) {
      const base = `{"lead_id":"lead-${i}","tags":["vip"]}`;
      const d0 = digestOf(base);
      const pos = i % base.length;
      const bit = 1 << (i % 7);
      const changed = base.slice(0, pos) + String.fromCharCode(base.charCodeAt(pos) ^ bit) + base.slice(pos + 1);
      const d1 = digestOf(changed);
      for (let w = 0; w < 4; w++) flips += popcount(d0[w]! ^ d1[w]!);
      samples++;
    }
    const mean = flips / samples;
    expect(mean).toBeGreaterThan(60);
    expect(mean).toBeLessThan(68);
  });
});

describe('replay content digest (feedJson)', () => {
  const jsonDigest = (value: unknown) => {
    const out = new Uint32Array(4);
    begin();
    feedJson(value);
    finish(out, 0);
    return hex(out);
  };

  /** A small deterministic JSON value generator: nested objects and arrays of every kind of scalar. */
  function* values(seed: number, n: number): Generator<unknown> {
    let s = seed;
    const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const scalars = [null, true, false, 0, -0, 1, -1, 1.5, 2 ** 53, 2 ** 53 + 2, 1e21, 1e-7, '', '0', '1', 'a', 'é', '\u0000', 'null', 'true', '{}', '[]', '"', '\\'];
    const keys = ['a', 'b', 'aa', 'B', '1', '10', '9', '', 'é', 'lead_id'];
    const gen = (depth: number): unknown => {
      const r = rnd();
      if (depth > 2 || r < 0.5) return scalars[Math.floor(rnd() * scalars.length)];
      if (r < 0.75) return Array.from({ length: Math.floor(rnd() * 3) }, () => gen(depth + 1));
      const o: Record<string, unknown> = {};
      for (let k = Math.floor(rnd() * 4); k > 0; k--) o[keys[Math.floor(rnd() * keys.length)]!] = gen(depth + 1);
      return o;
    };
    for (let i = 0; i < n; i++) yield gen(0);
  }

  /** The same value with every object's keys in another order. */
  const shuffled = (value: unknown): unknown => {
    if (value === null || typeof value !== 'object') return value;
    if (Array.isArray(value)) return value.map(shuffled);
    return Object.fromEntries(Object.entries(value).reverse().map(([k, v]) => [k, shuffled(v)]));
  };

  it('gives two values one digest exactly when canonicalJson gives them one text', () => {
    const all = [...values(7, 3000)];
    const byText = new Map<string, string>();
    const byDigest = new Map<string, string>();
    for (const value of all) {
      for (const v of [value, shuffled(value)]) {
        const text = canonicalJson(v);
        const digest = jsonDigest(v);
        // Same canonical text → same digest, and a digest never stands for two texts.
        expect(byText.get(text) ?? digest).toBe(digest);
        expect(byDigest.get(digest) ?? text).toBe(text);
        byText.set(text, digest);
        byDigest.set(digest, text);
      }
    }
    // The generator made many distinct texts, and repeats (so both directions were tested).
    expect(byText.size).toBeGreaterThan(500);
    expect(byText.size).toBeLessThan(all.length);
  });

  it('tells apart values whose parts would run together unframed', () => {
    const pairs: Array<[unknown, unknown]> = [
      [['ab', 'c'], ['a', 'bc']],
      [{ a: 'b' }, ['a', 'b']],
      ['1', 1],
      [[[]], [[], []]],
      [{ a: null }, { a: false }],
      [2 ** 53, 2 ** 53 + 2],
      [-1, 2 ** 32 - 1],
    ];
    for (const [x, y] of pairs) expect(jsonDigest(x)).not.toBe(jsonDigest(y));
    expect(jsonDigest(-0)).toBe(jsonDigest(0)); // as JSON writes it
  });
});

describe('replay digests, unchanged by the faster feeding', () => {
  // Computed with the implementation before feedText kept its lanes in locals, feedInteger fed
  // its units in pairs and feedJson sorted keys by insertion (main's build, issue 23's fifth pass):
  // the same feeds give the same digests, whatever unit is pending between them.
  const run = (feeds: () => void) => {
    const out = new Uint32Array(4);
    begin();
    feeds();
    finish(out, 0);
    return hex(out);
  };
  it.each<[string, () => void, string]>([
    ['texts of odd and even lengths, one after the other', () => ['a', 'bcd', '', '\u{1F600}\u00e9'].forEach(feedText), '6b2885440cf195c9fde92f20fda3f6ce'],
    ['strings with their lengths', () => ['abc', 'de', ''].forEach(feedString), 'cbd5fa0333ccb9334e7fe022da906a48'],
    ['an object with integer-like and non-ASCII keys, integers past 32 bits, -0', () => feedJson({ b: [1, -1, 2 ** 40 + 3, 1.5, -0, null, true], a: 'x', 10: 'ten', 9: 'nine', '\u00e9': { z: 'y', y: [] } }), 'b054892386619fa4e861d860e0453e05'],
    ['integers fed while a unit is pending', () => { feedText('odd'); feedJson([2 ** 52, 'q', { k: 12345678901 }]); }, '787d08c2ae7477764af4cc12b933040d'],
  ])('%s', (_name, feeds, expected) => {
    expect(run(feeds)).toBe(expected);
  });
});
