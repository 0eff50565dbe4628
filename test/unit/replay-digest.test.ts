import { digest128 } from '../../cli/replay/digest';

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
