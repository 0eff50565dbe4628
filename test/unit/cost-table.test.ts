import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { deployedMemoryMiB } from '../../tools/cost/run';
import { noWork, Prices, publishBillableBytes, pushBillableBytes, stageCost, throttledSeconds, type StageCounts } from '../../tools/cost/table';

const ROOT = join(__dirname, '../..');
const prices = Prices.parse(JSON.parse(readFileSync(join(ROOT, 'tools/cost/prices.json'), 'utf8')));

const stage = (over: Partial<StageCounts>): StageCounts => ({ ...noWork('s'), ...over });

describe('cost per million events (tools/cost)', () => {
  it('keeps one dated price file, every price naming its page or saying it was not found', () => {
    expect(prices.asOf).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    const entries = [...Object.values(prices.pubsub), ...Object.values(prices.cloudRunFunctions), ...Object.values(prices.firestore), ...Object.values(prices.bigtable)];
    for (const e of entries) {
      if (e.source === null) expect(e.says).toMatch(/not (found|published|a price)/i);
      else expect(e.source).toMatch(/^https:\/\/(cloud\.google\.com|firebase\.google\.com)\//);
    }
  });

  it.each([
    ['one small message: the 1000-byte minimum', [200], 1000],
    ['one large message: its bytes, the timestamp and the id', [2000], 2000 + 20 + 16],
    ['a batch: the sum', [600, 600], 2 * (600 + 36)],
  ])('bills a Publish request of %s', (_name, sizes, billable) => {
    expect(publishBillableBytes(sizes, prices)).toBe(billable);
  });

  it('bills a push as one message of at least 1000 bytes', () => {
    expect([pushBillableBytes(300, prices), pushBillableBytes(1500, prices)]).toEqual([1000, 1520]);
  });

  it('prices requests, CPU and memory by billed instance time at the deployed size, and Firestore per document', () => {
    const c = stageCost(stage({ invocations: 1e6, requestSeconds: 1000, instanceSeconds: 400, billedInstanceSeconds: 500, cpuSeconds: 100, memoryMiB: 512, vcpu: 1, concurrency: 3, firestore: { reads: 1e5, writes: 1e5, deletes: 1e5 } }), prices, 1);
    expect(c.requests).toBeCloseTo(0.4);
    expect(c.compute).toBeCloseTo(500 * 1 * 0.000024 + 500 * 0.5 * 0.0000025);
    expect(c.computeAsUsed).toBeCloseTo(100 * 0.000024 + 500 * 0.5 * 0.0000025);
    expect(c.firestore).toBeCloseTo(0.03 + 0.09 + 0.01);
    expect(c.pubsub).toBe(0);
    expect(stageCost(stage({ deliveredBytes: 2 ** 40 }), prices, 2).pubsub).toBeCloseTo(80);
  });

  it('lengthens CPU work below 1 vCPU by 1/vCPU, and not at 1 vCPU or more', () => {
    expect(throttledSeconds(0.03, 1)).toBe(0);
    expect(throttledSeconds(0.03, 2)).toBe(0);
    // 30 ms of CPU at 0.333 vCPU take about 90 ms: 60 ms more than unthrottled.
    expect(throttledSeconds(0.03, 0.333)).toBeCloseTo(0.0601, 4);
    expect(throttledSeconds(0, 0.333)).toBe(0);
  });

  it('reads the deployed memory from infra/main.tf', () => {
    expect(deployedMemoryMiB(readFileSync(join(ROOT, 'infra/main.tf'), 'utf8'))).toBe(512);
  });
});
