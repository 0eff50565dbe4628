import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateLog } from '../../cli/generate/log';
import { isEventType } from '../../shared/events/catalog';
import { compiledParse } from '../../shared/events/compiled';
import { BusinessEvent, withoutNullAttributes } from '../../shared/events/envelope';
import { EXAMPLE_EVENTS } from '../../shared/events/examples';
import { fuzzChunks } from '../../tools/fuzz/hostile';

/**
 * The validators compiled from the catalog (shared/events/compiled.ts) against zod, the one
 * source of truth: wherever the compiled check answers, zod accepts the same event and answers
 * the same value, key order included (JSON.stringify compares both). Where it does not answer,
 * the validator asks zod, so what it may never do is accept something zod rejects, or answer
 * something else than zod would.
 */

type Verdict = { answered: number; zodValid: number; disagreements: string[] };

function compare(values: Iterable<unknown>): Verdict {
  const verdict: Verdict = { answered: 0, zodValid: 0, disagreements: [] };
  for (const value of values) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) continue;
    const raw = withoutNullAttributes(value as Record<string, unknown>);
    if (!isEventType(raw.type)) continue;
    const zod = BusinessEvent.safeParse(raw);
    if (zod.success) verdict.zodValid++;
    const compiled = compiledParse(raw.type, raw);
    if (compiled === undefined) continue;
    verdict.answered++;
    if (!zod.success || JSON.stringify(compiled) !== JSON.stringify(zod.data)) verdict.disagreements.push(JSON.stringify(value).slice(0, 500));
  }
  return verdict;
}

function* jsonLines(text: string): Generator<unknown> {
  for (const line of text.split('\n')) {
    try {
      yield JSON.parse(line) as unknown;
    } catch {
      /* not JSON: not the validators' business */
    }
  }
}

/** Hostile values for a leaf: wrong types, bounds, code points against UTF-16 units, unsafe integers. */
const HOSTILE: readonly unknown[] = [
  null,
  '',
  'x',
  ' ',
  '1',
  '+14155550100',
  'a@b',
  'USD',
  'usd',
  'pi_1',
  '2026-03-01T10:00:00Z',
  '2026-02-30T10:00:00Z',
  `CA${'a'.repeat(32)}`,
  'hubspot',
  'sms',
  'x'.repeat(256),
  'x'.repeat(257),
  '😀'.repeat(256),
  '😀'.repeat(257),
  '\uD83D',
  0,
  JSON.parse('-0'),
  1,
  -1,
  1.5,
  2 ** 53,
  2 ** 53 - 1,
  1e308,
  true,
  [],
  ['vip'],
  [{ sku: 'a', unit_amount: 1, quantity: 1 }],
  [{ quantity: 1, sku: 'a', unit_amount: 1 }],
  {},
  { name: 'Ada' },
];

/** Every leaf path of a JSON value. */
function paths(value: unknown, at: string[] = []): string[][] {
  if (value === null || typeof value !== 'object') return [at];
  const keys = Array.isArray(value) ? value.map((_, i) => String(i)) : Object.keys(value);
  return [at, ...keys.flatMap((k) => paths((value as Record<string, unknown>)[k], [...at, k]))];
}

function withAt(value: unknown, path: readonly string[], replacement: unknown | typeof DELETE): unknown {
  if (path.length === 0) return replacement;
  const copy = (Array.isArray(value) ? [...value] : { ...(value as object) }) as Record<string, unknown>;
  const [head, ...rest] = path;
  if (rest.length === 0 && replacement === DELETE) delete copy[head!];
  else copy[head!] = withAt(copy[head!], rest, replacement);
  return copy;
}
const DELETE = Symbol('delete');

/** Each object of the value with its keys reversed, one at a time, and with an extra key first and last. */
function reorderings(value: unknown): unknown[] {
  const out: unknown[] = [];
  for (const path of paths(value)) {
    const target = path.reduce<unknown>((v, k) => (v as Record<string, unknown>)[k], value);
    if (target === null || typeof target !== 'object' || Array.isArray(target)) continue;
    const entries = Object.entries(target);
    out.push(withAt(value, path, Object.fromEntries([...entries].reverse())));
    out.push(withAt(value, path, Object.fromEntries([['note', 1], ...entries])));
    out.push(withAt(value, path, Object.fromEntries([...entries, ['note', 1]])));
    out.push(withAt(value, path, JSON.parse(`{"__proto__":{"polluted":1},${JSON.stringify(target).slice(1)}`)));
  }
  return out;
}

describe('validators compiled from the catalog give zod\'s answer wherever they answer', () => {
  it('on every example: answered, and equal to zod', () => {
    const verdict = compare(Object.values(EXAMPLE_EVENTS));
    expect(verdict.disagreements).toEqual([]);
    expect(verdict.answered).toBe(Object.keys(EXAMPLE_EVENTS).length);
  });

  it('on every example with each leaf, object and array replaced by each hostile value, or removed', () => {
    const variants: unknown[] = [];
    for (const example of Object.values(EXAMPLE_EVENTS)) {
      for (const path of paths(example)) {
        if (path.length === 0) continue;
        variants.push(withAt(example, path, DELETE));
        for (const h of HOSTILE) variants.push(withAt(example, path, h));
      }
    }
    const verdict = compare(variants);
    expect(verdict.disagreements).toEqual([]);
    // The mutations reach both sides: some stay valid (and are answered), most do not.
    expect(verdict.answered).toBeGreaterThan(100);
    expect(verdict.zodValid).toBeLessThan(variants.length / 2);
  });

  it('on every example with the keys of each object reordered, an extra key first or last, a __proto__ key', () => {
    const verdict = compare(Object.values(EXAMPLE_EVENTS).flatMap((e) => reorderings(e)));
    expect(verdict.disagreements).toEqual([]);
    expect(verdict.answered).toBeGreaterThan(0);
  });

  it.each([13, 7, 101])('on the fuzz corpus (seed %i, 20,000 hostile lines)', (seed) => {
    const text = Buffer.concat([...fuzzChunks(seed, { lines: 20_000, probeEvery: 97, oversized: 2 })]).toString('utf8');
    const verdict = compare(jsonLines(text));
    expect(verdict.disagreements).toEqual([]);
    expect(verdict.zodValid).toBeGreaterThan(1_000);
    expect(verdict.answered).toBeGreaterThan(verdict.zodValid / 2);
  });

  it('answers every valid event of a generated log (the fast path is the common path)', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'compiled-')), 'log.ndjson');
    await generateLog(file, 5_000);
    const verdict = compare(jsonLines(readFileSync(file, 'utf8')));
    expect(verdict.disagreements).toEqual([]);
    expect(verdict.zodValid).toBeGreaterThan(4_900);
    expect(verdict.answered).toBe(verdict.zodValid);
  });
});
