import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { topology } from '../../shared/topology';
import { bigtableLine, bigtableRetentionHours, bigtableSizing, costJson, noWork, Prices, renderCostTables, type BigtableRows, type StageCounts } from '../../tools/cost/table';

const ROOT = join(__dirname, '../..');
const prices = Prices.parse(JSON.parse(readFileSync(join(ROOT, 'tools/cost/prices.json'), 'utf8')));
const rows = (over: Partial<BigtableRows>): BigtableRows => ({ rowsRead: 0, emptyReads: 0, rowsWritten: 0, rowsDeleted: 0, bytesWritten: 0, storedBytes: 0, ...over });
const stage = (name: string, bigtable?: BigtableRows): StageCounts => {
  const { bigtable: _none, ...rest } = noWork(name);
  return bigtable ? { ...rest, bigtable } : rest;
};
const WEEK_H = 7 * 24;
/** Every stage's tables keep their cells a week. */
const KEPT = { deduplicator: WEEK_H, 'gap-detector': WEEK_H, validator: WEEK_H };

/** Bigtable priced as nodes at a rate (tools/cost/table.ts), from the list figures of prices.json. */
describe('Bigtable in the cost run', () => {
  it('reads the node-hour and SSD prices, a node\'s rows a second and the CPU target from prices.json, each with its page', () => {
    expect(prices.bigtable.nodeHour.price).toBe(0.65);
    expect(prices.bigtable.ssdGibMonth.price).toBe(0.17);
    expect(prices.bigtable.ssdRowsPerSecondPerNode.value).toEqual({ read: 17000, write: 14000 });
    expect(prices.bigtable.cpuTarget.value).toBe(0.7);
    expect(prices.bigtable.nodeHour.source).toBe('https://cloud.google.com/bigtable/pricing');
  });

  it('takes one node below its CPU target: 2M events/hour at 2 rows written and 1 read per event', () => {
    // 555.6 events/s: 1,111 writes/s (7.9 % of 14,000) and 556 reads/s (3.3 % of 17,000).
    const b = bigtableSizing([stage('deduplicator', rows({ rowsWritten: 2000, rowsRead: 900, emptyReads: 100 }))], 1000, 2_000_000, KEPT, prices);
    expect(b.rows_per_event).toEqual({ read: 1, written: 2, deleted: 0 });
    expect(b.rows_per_s.written).toBeCloseTo(1111.11, 1);
    expect(b.node_load).toBeCloseTo(1111.11 / 14000 + 555.56 / 17000, 4);
    expect(b.nodes).toBe(1);
    expect(b.usd_per_hour.nodes).toBeCloseTo(0.65);
    // $0.65 an hour over 2M events an hour: $0.325 a million, plus storage (none: no bytes counted).
    expect(b.usd_per_million).toBeCloseTo(0.325, 6);
  });

  it('adds nodes once the load passes the CPU target, and costs the same per event above one node', () => {
    const r = rows({ rowsWritten: 2000, rowsDeleted: 1000, rowsRead: 1000 }); // 3 mutations and 1 read per event
    // Load per node at N events/h: N/3600 × (3/14000 + 1/17000); 70 % of a node is reached at ~9.9M/h.
    const at = (n: number) => bigtableSizing([stage('gap-detector', r)], 1000, n, KEPT, prices);
    expect(at(9_000_000).nodes).toBe(1);
    expect(at(11_000_000).nodes).toBe(2);
    expect(at(100_000_000).nodes).toBe(Math.ceil(((100_000_000 / 3600) * (3 / 14000 + 1 / 17000)) / 0.7));
    // Below one node's worth the node is billed idle: the cost per event grows as the rate falls.
    expect(at(200_000).usd_per_million).toBeCloseTo(0.65 * 5, 6);
  });

  it('keeps what the tables gained over the run for the retention, not what was written, and prices it by the GiB-month', () => {
    // Markers written and deleted again leave nothing; keys written twice (a claim, then its mark) leave 100 bytes an event.
    const b = bigtableSizing(
      [stage('deduplicator', rows({ rowsWritten: 2000, bytesWritten: 180_000, storedBytes: 100_000 })), stage('gap-detector', rows({ rowsWritten: 1000, rowsDeleted: 1000, bytesWritten: 50_000 }))],
      1000,
      2_000_000,
      KEPT,
      prices,
    );
    expect(b.stored_bytes_per_event).toBe(100);
    expect(b.stored_gib).toBeCloseTo((100 * 2_000_000 * WEEK_H) / 2 ** 30, 6);
    expect(b.usd_per_hour.storage).toBeCloseTo((b.stored_gib * 0.17) / 730, 9);
    expect(b.usd_per_million).toBeCloseTo(((0.65 + b.usd_per_hour.storage) * 1e6) / 2_000_000, 9);
  });

  it("keeps a function's cells as long as the longest GC max age of its tables: its settings in their units plus the margin", () => {
    expect(bigtableRetentionHours(topology.functions)).toEqual({
      deduplicator: expect.closeTo(168 + 25 / 3600 + 1, 9),
      'gap-detector': 169,
      'revenue-checker': 30 * 24 + 1,
      'call-duration-checker': 30 * 24 + 1,
      'crm-checker': 30 * 24 + 1,
    });
    expect(
      bigtableRetentionHours([
        { name: 'a', bigtable: [{ maxAge: { settings: { A_MINUTES: 90, B_SECONDS: 1800 }, marginHours: 0.5 } }, { maxAge: { settings: { C_HOURS: 1 }, marginHours: 0 } }] },
        { name: 'b', bigtable: [{ maxAge: { settings: { C_DAYS: 2 }, marginHours: 0 } }] },
        { name: 'c' },
      ]),
    ).toEqual({ a: 2.5, b: 48 });
  });

  it("keeps each stage's rows for its own tables' max age", () => {
    const b = bigtableSizing(
      [stage('deduplicator', rows({ rowsWritten: 1000, storedBytes: 100_000 })), stage('revenue-checker', rows({ rowsWritten: 100, storedBytes: 50_000 }))],
      1000,
      2_000_000,
      { deduplicator: WEEK_H, 'revenue-checker': 721 },
      prices,
    );
    expect(b.stored_gib).toBeCloseTo(((100 * WEEK_H + 50 * 721) * 2_000_000) / 2 ** 30, 6);
    expect(b.retention_hours).toBeCloseTo((100 * WEEK_H + 50 * 721) / 150, 9);
  });

  it('prices nothing when no row was counted (the functions on Firestore), also from a measurement made before Bigtable was counted', () => {
    const b = bigtableSizing([stage('validator'), stage('deduplicator', rows({}))], 1000, 2_000_000, KEPT, prices);
    expect([b.nodes, b.usd_per_million]).toEqual([0, 0]);
    expect(bigtableLine(b, prices)).toMatch(/^Bigtable: no row counted/);
  });

  it('puts the Bigtable line in the tables and its cost in the JSON total, stages keeping their Firestore columns', () => {
    const stages = [{ ...stage('deduplicator', rows({ rowsWritten: 2000, rowsRead: 1000 })), firestore: { reads: 1000, writes: 0, deletes: 0 } }];
    const b = bigtableSizing(stages, 1000, 2_000_000, KEPT, prices);
    const text = renderCostTables(stages, prices, 1000, b);
    expect(text).toContain('| Bigtable: 1 node at 2,000,000 events/hour | – | – | – | – | $0.33 | – | $0.33 | – |');
    expect(text).toContain('| deduplicator | – | – (–) | – | – | – | – | 1,000,000 | – | – | 1,000,000 | 2,000,000 | – |'); // per million events
    expect(text).toContain('at the 70 % CPU target that is 1 node (at least 1) at $0.65/node-hour = $0.65/hour');
    const json = costJson(stages, prices, 1000, {}, b);
    expect(json.per_million_usd).toBeCloseTo(0.325 + 0.3, 4); // Bigtable plus 1 Firestore read an event ($0.30 a million)
    expect(json.bigtable).toEqual(b);
    expect(json.stages.deduplicator!.per_event).toMatchObject({ firestore_reads: 1, bigtable_rows_read: 1, bigtable_rows_written: 2, bigtable_rows_deleted: 0 });
    expect(json.stages.deduplicator!.usd_per_million.firestore).toBeCloseTo(0.3);
  });
});
