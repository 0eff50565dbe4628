import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { busyPeriods, instanceTime } from '../../tools/cost/instance-time';
import { costJson, noWork, Prices, renderCostTables, stageCost, type StageCounts } from '../../tools/cost/table';

const ROOT = join(__dirname, '../..');
const prices = Prices.parse(JSON.parse(readFileSync(join(ROOT, 'tools/cost/prices.json'), 'utf8')));

/** Requests as [start, end] in ms. */
const requests = (...spans: Array<[number, number]>) => spans.map(([start, end]) => ({ start, end }));

describe("an instance's billable time under request-based billing (tools/cost/instance-time)", () => {
  it.each([
    ['nothing', requests(), []],
    ['one request', requests([0, 30]), [[0, 30]]],
    ['two overlapping requests: one busy period from the first start to the last end', requests([0, 50], [20, 80]), [[0, 80]]],
    ['a request inside another', requests([0, 100], [10, 20]), [[0, 100]]],
    ['requests that touch: the instance never went idle', requests([0, 40], [40, 90]), [[0, 90]]],
    ['an idle gap: two busy periods', requests([0, 40], [60, 90]), [[0, 40], [60, 90]]],
    ['out of order, three in flight at once, then a lone one', requests([300, 330], [10, 60], [0, 20], [15, 25]), [[0, 60], [300, 330]]],
  ])('%s', (_name, spans, periods) => {
    expect(busyPeriods(spans).map((p) => [p.start, p.end])).toEqual(periods);
  });

  it('bills the union, not the sum: three requests of 50 ms in flight together are 50 ms of instance time', () => {
    const t = instanceTime(requests([0, 50], [0, 50], [0, 50]), 0);
    expect(t).toEqual({ requestSeconds: 0.15, busySeconds: 0.05, billedSeconds: 0.05, periods: 1 });
  });

  it('rounds each busy period up to the billing granularity (a lone 30 ms request is 100 ms billed)', () => {
    expect(instanceTime(requests([0, 30]), 100)).toMatchObject({ busySeconds: 0.03, billedSeconds: 0.1 });
    // 0-130 and 200-200 (a request answered within the clock's millisecond still started an instance's busy time)
    expect(instanceTime(requests([0, 60], [50, 130], [200, 200]), 100)).toEqual({ requestSeconds: 0.14, busySeconds: 0.13, billedSeconds: 0.3, periods: 2 });
    // A period already on the granularity stays as it is.
    expect(instanceTime(requests([0, 200]), 100).billedSeconds).toBeCloseTo(0.2);
  });
});

describe('compute priced as billed: instance time at the deployed vCPU and memory', () => {
  const fn = (over: Partial<StageCounts>): StageCounts => ({ ...noWork('f'), invocations: 1000, memoryMiB: 512, vcpu: 1, concurrency: 3, ...over });

  it('prices the billed instance seconds at the function\'s own vCPU and memory, not the request seconds at 0.333 vCPU', () => {
    const c = stageCost(fn({ requestSeconds: 30, instanceSeconds: 12, billedInstanceSeconds: 15, cpuSeconds: 4 }), prices, 1);
    expect(c.compute).toBeCloseTo(15 * 1 * 0.000024 + 15 * 0.5 * 0.0000025, 10);
    // CPU as used: the CPU seconds at the vCPU price, memory for the billed time.
    expect(c.computeAsUsed).toBeCloseTo(4 * 0.000024 + 15 * 0.5 * 0.0000025, 10);
  });

  it('follows the deployed size: 2 vCPU and 1 GiB cost twice and twice', () => {
    const one = stageCost(fn({ billedInstanceSeconds: 10, vcpu: 1, memoryMiB: 512 }), prices, 1).compute;
    const two = stageCost(fn({ billedInstanceSeconds: 10, vcpu: 2, memoryMiB: 1024 }), prices, 1).compute;
    expect(one).toBeGreaterThan(0);
    expect(two).toBeCloseTo(2 * one, 12);
  });

  it('a stage that is not a function has no compute', () => {
    expect(stageCost({ ...noWork('producers'), requestSeconds: 5 }, prices, 1).compute).toBe(0);
  });

  it('takes the billing granularity from prices.json, with the page that says it', () => {
    expect(prices.cloudRunFunctions.billingGranularityMs).toMatchObject({ value: 100, source: 'https://cloud.google.com/run/pricing' });
    expect(prices.notPriced.join(' ')).not.toMatch(/100 ms/);
  });

  it('shows both figures: the table has the busy and billed instance time and both computes; the JSON total is the billed one', () => {
    const f = fn({ name: 'validator', invocations: 1000, requestSeconds: 30, instanceSeconds: 12, billedInstanceSeconds: 15, cpuSeconds: 4 });
    const text = renderCostTables([f], prices, 1000);
    // Per million events (×1000): 12,000 busy, 15,000 billed; compute $0.38 billed (15,000 × 0.00002525), $0.11 as used.
    expect(text).toContain('| validator | 1,000,000 | – (–) | – | 4,000 | 30,000 | 12,000 (15,000) |');
    expect(text).toMatch(/\| validator \| – \| \$0\.40 \| \$0\.38 \| – \| – \| – \| \$0\.78 \| \$0\.11 \|/);
    expect(text).toContain('validator 1 vCPU, 512 MiB, concurrency 3');
    const json = costJson([f], prices, 1000, {});
    expect(json.per_million_usd).toBeCloseTo(0.4 + 15_000 * (0.000024 + 0.5 * 0.0000025), 4);
    expect(json.stages.validator!.per_event).toMatchObject({ request_seconds: 0.03, instance_seconds: 0.012, billed_instance_seconds: 0.015 });
  });
});
