import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { topology } from '../../shared/topology';
import { bigtableRetentionHours, noWork, Prices, type BigtableRows, type StageCounts } from '../../tools/cost/table';
import { COLLECTION_CLASSES } from '../../tools/scale/collections';
import { scaleModel, type Measurement, type ScaleOptions } from '../../tools/scale/model';
import { bigtableSummary } from '../../tools/scale/run';

const ROOT = join(__dirname, '../..');
const prices = Prices.parse(JSON.parse(readFileSync(join(ROOT, 'tools/cost/prices.json'), 'utf8')));
// The manifest's longest GC max age: the deduplicator's window and lease, plus an hour.
const KEPT_H = bigtableRetentionHours(topology.functions).deduplicator!;

/** A run of 1,000 events: the deduplicator once per event (50 ms, 5 ms CPU), its Bigtable rows as given (none: an older measurement). */
function measurement(bigtable?: BigtableRows): Measurement {
  const { bigtable: _none, ...base } = noWork('deduplicator');
  const counted: StageCounts = { ...base, invocations: 1000, requestSeconds: 50, cpuSeconds: 5, memoryMiB: 512, ...(bigtable ? { bigtable } : {}) };
  return {
    events: 1000,
    asOf: prices.asOf,
    memoryMiB: 512,
    run: { processingSeconds: 100, scale: 3, seed: 1 },
    stages: { deduplicator: { counted } },
    documents: { histogram: {}, collections: [], hottest: [] } as unknown as Measurement['documents'],
    stream: { events: 1000, busiestSource: null },
  };
}
const options = (eventsPerHour: number, over: Partial<ScaleOptions> = {}): ScaleOptions => ({ eventsPerHour, headroom: 2, cpuUtilization: 0.6, ...over });
// Per event: 2 rows written (100 bytes kept), 1 read (of them 0.1 found nothing).
const DEDUP_ROWS: BigtableRows = { rowsRead: 900, emptyReads: 100, rowsWritten: 2000, rowsDeleted: 0, bytesWritten: 120_000, storedBytes: 100_000 };
const loadPerEvent = (1 / 3600) * (1 / 17000 + 2 / 14000); // share of a node, per event an hour

describe('the scale model on Bigtable (npm run scale)', () => {
  it('accepts a measurement without Bigtable counts (tools/scale/measured.json before it is measured again): no Bigtable, no node priced', () => {
    const old = scaleModel(measurement(), COLLECTION_CLASSES, prices, options(2_000_000));
    expect(old.bigtable).toBeNull();
    expect(old.limits.some((l) => l.name.startsWith('Bigtable'))).toBe(false);
    expect(bigtableSummary(old)).toMatch(/^Bigtable: no row counted/);
    const file = JSON.parse(readFileSync(join(ROOT, 'tools/scale/measured.json'), 'utf8')) as Measurement;
    const current = scaleModel(file, COLLECTION_CLASSES, prices, options(2_000_000));
    expect(current).toMatchObject({ events_per_hour: 2_000_000, within_limits: expect.any(Boolean), monthly_usd: expect.any(Number) });
    expect(Object.keys(current)).toEqual(expect.arrayContaining(['hottest_document_writes_per_s', 'first_limit', 'per_function', 'bigtable']));
  });

  it('sizes one node at 2M events/hour, prices it by the hour, and adds it to the cost per million and per month', () => {
    const without = scaleModel(measurement(), COLLECTION_CLASSES, prices, options(2_000_000));
    const r = scaleModel(measurement(DEDUP_ROWS), COLLECTION_CLASSES, prices, options(2_000_000));
    const b = r.bigtable!;
    expect(b.rows_per_event).toEqual({ read: 1, written: 2, deleted: 0 });
    expect(b.node_load).toBeCloseTo(loadPerEvent * 2_000_000, 6);
    expect([b.nodes_needed, b.nodes_checked, b.within_nodes]).toEqual([1, 1, true]);
    expect(b.retention_hours).toBeCloseTo(KEPT_H, 9);
    const storagePerHour = ((100 * 2_000_000 * KEPT_H) / 2 ** 30) * (0.17 / 730);
    expect(b.monthly_usd).toBeCloseTo((0.65 + storagePerHour) * 730, 2);
    expect(r.per_million_usd - without.per_million_usd).toBeCloseTo(((0.65 + storagePerHour) * 1e6) / 2_000_000, 3);
    expect(r.monthly_usd - without.monthly_usd).toBeCloseTo(b.monthly_usd, 0);
    // One node reaches the 70 % CPU target at 0.7 / load per event an hour.
    const limit = r.limits.find((l) => l.name === 'Bigtable nodes (1)')!;
    expect(limit.kind).toBe('hard');
    expect(limit.at_events_per_hour).toBeCloseTo(0.7 / loadPerEvent, 0);
    expect(r.within_limits).toBe(true);
  });

  it('needs more nodes at 40M events/hour; checked against one node, Bigtable is the first limit and the rate is not within limits', () => {
    const needed = Math.ceil((loadPerEvent * 40_000_000) / 0.7);
    const r = scaleModel(measurement(DEDUP_ROWS), COLLECTION_CLASSES, prices, options(40_000_000));
    expect(r.bigtable!.nodes_needed).toBe(needed);
    expect(needed).toBeGreaterThan(1);
    const one = scaleModel(measurement(DEDUP_ROWS), COLLECTION_CLASSES, prices, options(40_000_000, { bigtableNodes: 1 }));
    expect(one.bigtable).toMatchObject({ nodes_needed: needed, nodes_checked: 1, within_nodes: false });
    expect(one.within_limits).toBe(false);
    expect(one.first_limit?.name).toBe('Bigtable nodes (1)');
    expect(bigtableSummary(one)).toContain(`${needed} nodes needed at the 70 % CPU target, 1 checked (**too few**)`);
  });
});
