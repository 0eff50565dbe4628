import { buildDemo, SOURCES } from '../../cli/generate/demo';
import { bucketOf, collectionOf, documentWrites } from '../../tools/cost/documents';
import { streamMix } from '../../tools/cost/run';
import type { DocumentCount } from '../../tools/cost/counts';

const doc = (writes: number, peak: number, deletes = 0): DocumentCount => ({ writes, deletes, peak, second: 0, inSecond: 0 });

describe('npm run cost: writes per Firestore document (the hot-document histogram)', () => {
  it.each([
    ['dedup-keys/abc', 'dedup-keys'],
    ['dlq-triage-jobs/j1/items/x', 'items'],
  ])('names the collection of %s', (path, collection) => {
    expect(collectionOf(path)).toBe(collection);
  });

  it.each([
    [1, '1'],
    [2, '2'],
    [3, '3-4'],
    [4, '3-4'],
    [5, '5-8'],
    [9, '9-16'],
    [1000, '513-1024'],
  ])('buckets %i writes as %s', (writes, bucket) => {
    expect(bucketOf(writes)).toBe(bucket);
  });

  it('merges the processes, sums writes, keeps the highest one-second peak, and names the busiest document', () => {
    const merged = documentWrites([
      { documents: { 'dedup-keys/a': doc(2, 2), 'dedup-keys/b': doc(1, 1), 'gap-detector-sources/s': doc(10, 2) } },
      { documents: { 'gap-detector-sources/s': doc(5, 3, 1), 'gap-detector-outbox/o': doc(1, 1, 1) } },
    ]);
    expect(merged.histogram).toEqual({ '1': 2, '2': 1, '9-16': 1 });
    expect(merged.collections[0]).toEqual({ collection: 'gap-detector-sources', documents: 1, writes: 15, deletes: 1, maxWritesPerDocument: 15, peakWritesPerSecond: 3, hottest: 'gap-detector-sources/s' });
    expect(merged.collections.find((c) => c.collection === 'dedup-keys')).toMatchObject({ documents: 2, writes: 3, maxWritesPerDocument: 2, peakWritesPerSecond: 2, hottest: 'dedup-keys/a' });
    expect(merged.hottest.map((h) => h.path)).toEqual(['gap-detector-sources/s', 'dedup-keys/a', 'dedup-keys/b', 'gap-detector-outbox/o']);
  });
});

describe('npm run cost -- --scale: a load stream with one hot producer', () => {
  const NOW = Date.parse('2026-03-01T12:00:00Z');
  const payloads = (scale: number, hotShare: number) => buildDemo({ now: NOW, load: { scale, hotShare } }).messages.map((m) => Buffer.from(m.data));

  it('gives one producer the share asked for, and sales and calls about the share they have in the demo', () => {
    const demo = streamMix(buildDemo({ now: NOW }).messages.map((m) => Buffer.from(m.data)));
    const load = streamMix(payloads(4, 0.2));
    expect(load.events).toBeGreaterThan(3.5 * demo.events);
    expect(load.busiestSource?.source).toBe(SOURCES.enrichment);
    expect(load.busiestSource!.share).toBeGreaterThan(0.18);
    expect(load.busiestSource!.share).toBeLessThan(0.22);
    for (const type of ['sale.recorded', 'call.completed']) {
      expect(Math.abs(load.types[type]! - demo.types[type]!)).toBeLessThan(0.25 * demo.types[type]!);
    }
  });

  it("never makes two of the hot producer's events the same content (same time and data): the stack would rightly drop one as a duplicate", () => {
    const hot = buildDemo({ now: NOW, load: { scale: 4, hotShare: 0.2 }, injectors: [] }) // no injected copies
      .messages.flatMap((m) => {
        try {
          return [JSON.parse(m.data) as { source?: string; time?: string; data?: unknown }];
        } catch {
          return []; // the demo's broken producer
        }
      })
      .filter((e) => e.source === SOURCES.enrichment);
    expect(hot.length).toBeGreaterThan(200);
    expect(new Set(hot.map((e) => `${e.time} ${JSON.stringify(e.data)}`)).size).toBe(hot.length);
  });

  it('leaves the demo itself as it was (no hot producer without --scale)', () => {
    expect(streamMix(buildDemo({ now: NOW }).messages.map((m) => Buffer.from(m.data))).sources[SOURCES.enrichment]).toBeUndefined();
  });
});
