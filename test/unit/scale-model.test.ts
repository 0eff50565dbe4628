import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { topology } from '../../shared/topology';
import { noWork, Prices, stageCost, type StageCounts } from '../../tools/cost/table';
import { COLLECTION_CLASSES } from '../../tools/scale/collections';
import { DOCUMENT_WRITES_PER_SECOND, perInstanceRate, rampMinutes, recommendedConcurrency, scaleModel, type Measurement } from '../../tools/scale/model';
import { deployedSettings } from '../../tools/scale/run';

const ROOT = join(__dirname, '../..');
const prices = Prices.parse(JSON.parse(readFileSync(join(ROOT, 'tools/cost/prices.json'), 'utf8')));

/** A run of 1,000 events: the deduplicator invoked once per event, 50 ms a request, 5 ms CPU, 1 read and 3 writes an event. */
function measurement(over: Partial<Measurement> = {}, dedup: Partial<StageCounts> = {}): Measurement {
  const counted: StageCounts = {
    ...noWork('deduplicator'),
    invocations: 1000,
    requestSeconds: 50,
    cpuSeconds: 5,
    memoryMiB: 512,
    firestore: { reads: 1000, writes: 3000, deletes: 0 },
    ...dedup,
  };
  return {
    events: 1000,
    asOf: prices.asOf,
    memoryMiB: 512,
    run: { processingSeconds: 100, scale: 3, seed: 1 },
    stages: { deduplicator: { counted } },
    documents: {
      histogram: { '2': 3000 },
      collections: [
        { collection: 'dedup-keys', documents: 3000, writes: 3000, deletes: 0, maxWritesPerDocument: 2, peakWritesPerSecond: 2, hottest: 'dedup-keys/x' },
        { collection: 'gap-detector-sources', documents: 6, writes: 120, deletes: 0, maxWritesPerDocument: 40, peakWritesPerSecond: 2, hottest: 'gap-detector-sources/y' },
      ],
      hottest: [],
    },
    stream: { events: 1000, busiestSource: { source: '//crm/enrichment', share: 0.2 } },
    ...over,
  };
}

describe('the scale model (npm run scale)', () => {
  it("classes every Firestore collection of the manifest, and only those, by how its busiest document's writes grow", () => {
    const manifest = new Set(topology.functions.flatMap((f) => (f.firestore ?? []).map((c) => c.collection)));
    expect(new Set(Object.keys(COLLECTION_CLASSES))).toEqual(manifest);
  });

  it('keeps every document written at a pace the code sets at or under Firestore\'s sustained write a second', () => {
    for (const [name, c] of Object.entries(COLLECTION_CLASSES)) {
      if (c.kind === 'paced') expect({ name, within: c.writesPerSecond <= DOCUMENT_WRITES_PER_SECOND }).toEqual({ name, within: true });
    }
  });

  it.each([
    // request s, CPU s, vCPU → concurrency: CPU bound at 60 % of the vCPU, at most Cloud Run's default 80, 1 below 1 vCPU
    [0.05, 0.005, 1, 6],
    [0.5, 0.001, 1, 80],
    [0.05, 0.005, 0.333, 1],
    [0.01, 0.02, 1, 1],
  ])('recommends concurrency for %s s requests using %s s CPU on %s vCPU: %i', (req, cpu, vcpu, concurrency) => {
    expect(recommendedConcurrency(req, cpu, vcpu, 0.6)).toBe(concurrency);
  });

  it.each([
    // request s, CPU s → settings: one that waits and cannot share an instance (its CPU allows concurrency 1) is cheaper at 0.333 vCPU
    [0.092, 0.036, { concurrency: 1, cpu: 0.333 }],
    [0.03, 0.0034, { concurrency: 5, cpu: 1 }],
    [0.3, 0.275, { concurrency: 1, cpu: 1 }],
  ])('recommends, for %s s requests using %s s CPU at 512 MiB, the cheaper of 1 vCPU and its tier: %o', (req, cpu, settings) => {
    const m = measurement({}, { invocations: 1000, requestSeconds: req * 1000, cpuSeconds: cpu * 1000 });
    const r = scaleModel(m, COLLECTION_CLASSES, prices, { eventsPerHour: 2_000_000, headroom: 2, cpuUtilization: 0.6 });
    expect(r.per_function.deduplicator!.recommended).toMatchObject(settings);
  });

  it('serves concurrency / request time a second per instance, unless the CPU is the bound', () => {
    expect(perInstanceRate({ concurrency: 1, cpu: 0.333 }, 0.05, 0.005, 0.6)).toBeCloseTo(20);
    expect(perInstanceRate({ concurrency: 80, cpu: 1 }, 0.05, 0.005, 0.6)).toBeCloseTo(120);
    expect(perInstanceRate({ concurrency: 4, cpu: 1 }, 0.05, 0.005, 0.6)).toBeCloseTo(80);
  });

  it('at 2M events/hour with concurrency 1 and 10 instances at 0.333 vCPU: 555 requests/s need 34 instances (67 with headroom); the instance limit comes first', () => {
    const settings = { deduplicator: { maxInstances: 10, concurrency: 1, cpu: 0.333, memoryMiB: 512 } };
    const r = scaleModel(measurement(), COLLECTION_CLASSES, prices, { eventsPerHour: 2_000_000, headroom: 2, cpuUtilization: 0.6, settings });
    const f = r.per_function.deduplicator!;
    expect(f.invocations_per_s).toBeCloseTo(555.56, 1);
    // At 0.333 vCPU the 5 ms of CPU take 15 ms: a request holds an instance 60 ms, not 50.
    const seconds = 0.05 + 0.005 * (1 / 0.333 - 1);
    expect(f.busy_seconds_per_event).toBeCloseTo(seconds, 6);
    expect([f.instances, f.instances_with_headroom, f.within_max_instances]).toEqual([34, 67, false]);
    expect(r.within_limits).toBe(false);
    expect(r.first_limit).toMatchObject({ name: 'deduplicator max_instances', kind: 'hard' });
    // Where 10 instances are all busy (33.3 needed at 2M/h); the headroom is gone at half that.
    expect(r.first_limit!.at_events_per_hour).toBeCloseTo((10 / seconds) * 3600, 0);
    expect(r.firestore_ops_per_s).toEqual({ reads: 555.6, writes: 1666.7, deletes: 0 });
    // The recommendation: 1 vCPU, concurrency 6 (where 60 % of the CPU is the bound): 120/s an instance, 555.6 / 120 × 2.
    expect(f.recommended).toEqual({ concurrency: 6, cpu: 1, max_instances: 10 });
  });

  it("at the model's recommendation every function is within its instances, and the busiest document is the paced one", () => {
    const r = scaleModel(measurement(), COLLECTION_CLASSES, prices, { eventsPerHour: 2_000_000, headroom: 2, cpuUtilization: 0.6 });
    expect(r.within_limits).toBe(true);
    expect(r.per_function.deduplicator).toMatchObject({ concurrency: 6, cpu: 1, max_instances: 10, within_max_instances: true });
    // Paced: a fold's two writes per fold interval, however busy; the dedup keys' 2 writes spread over the 100 s run.
    const sources = COLLECTION_CLASSES['gap-detector-sources']!;
    expect(r.hottest_document).toMatchObject({ collection: 'gap-detector-sources', kind: 'paced' });
    expect(r.hottest_document_writes_per_s).toBe(sources.kind === 'paced' ? sources.writesPerSecond : -1);
    expect(Object.keys(r)).toEqual(expect.arrayContaining(['events_per_hour', 'hottest_document_writes_per_s', 'within_limits', 'first_limit', 'monthly_usd', 'per_function']));
    expect(r.monthly_usd).toBeCloseTo((r.per_million_usd * 2_000_000 * 730) / 1e6, 0);
  });

  it("prices compute as the cost run does: the busy instance time per event at the settings' vCPU and memory, which the instances come from too", () => {
    // Counted with the instance kept full at concurrency 3: 1,000 requests of 60 ms, three at a time, 20 s busy.
    const counted = { invocations: 1000, requestSeconds: 60, cpuSeconds: 5, instanceSeconds: 20, billedInstanceSeconds: 20, memoryMiB: 512, vcpu: 1, concurrency: 3 };
    const m = measurement({}, counted);
    const settings = { deduplicator: { maxInstances: 100, concurrency: 3, cpu: 1, memoryMiB: 512 } };
    const r = scaleModel(m, COLLECTION_CLASSES, prices, { eventsPerHour: 2_000_000, headroom: 2, cpuUtilization: 0.6, settings });
    const f = r.per_function.deduplicator!;
    // 60 ms a request, 3 in flight (the CPU would allow 0.6 × 60 / 5 = 7.2): 20 ms of instance per event.
    expect(f.in_flight_per_instance).toBeCloseTo(3);
    expect(f.busy_seconds_per_event).toBeCloseTo(0.02, 10);
    expect(f.measured_busy_seconds_per_event).toBeCloseTo(0.02, 10);
    expect(f.instances).toBe(Math.ceil(0.02 * (2_000_000 / 3600)));
    const cost = stageCost(m.stages.deduplicator!.counted, prices, 1e6 / m.events);
    expect(f.compute_usd_per_million).toBeCloseTo(cost.compute, 10);
    expect(r.per_million_usd).toBeCloseTo(cost.total, 4);
    // At concurrency 1 the same requests hold an instance each for their whole 60 ms: three times the busy time and the cost.
    const one = scaleModel(m, COLLECTION_CLASSES, prices, { eventsPerHour: 2_000_000, headroom: 2, cpuUtilization: 0.6, settings: { deduplicator: { ...settings.deduplicator, concurrency: 1 } } }).per_function.deduplicator!;
    expect(one.busy_seconds_per_event).toBeCloseTo(0.06, 10);
    expect(one.compute_usd_per_million).toBeCloseTo(3 * f.compute_usd_per_million, 10);
  });

  it('reads a measurement written before instance time was counted (tools/scale/measured.json of 2026-12-06): compute from the busy time at the settings, none measured', () => {
    const m = measurement();
    const { instanceSeconds: _i, billedInstanceSeconds: _b, vcpu: _v, concurrency: _c, ...old } = m.stages.deduplicator!.counted;
    const producers = { ...noWork('producers'), published: { requests: 1000, messages: 1000, billableBytes: 1e6 } };
    const { instanceSeconds: _pi, billedInstanceSeconds: _pb, vcpu: _pv, concurrency: _pc, ...oldProducers } = producers;
    const r = scaleModel({ ...m, stages: { producers: { counted: oldProducers as StageCounts }, deduplicator: { counted: old as StageCounts } } }, COLLECTION_CLASSES, prices, { eventsPerHour: 2_000_000, headroom: 2, cpuUtilization: 0.6 });
    expect(r.per_function.deduplicator!.measured_busy_seconds_per_event).toBeNull();
    expect(Number.isFinite(r.per_million_usd) && Number.isFinite(r.monthly_usd)).toBe(true);
    expect(r.per_million_usd).toBeGreaterThan(r.per_function.deduplicator!.compute_usd_per_million);
  });

  it('says so when a collection it cannot class was written', () => {
    const m = measurement();
    const unknown = { ...m, documents: { ...m.documents, collections: [{ ...m.documents.collections[0]!, collection: 'mystery' }] } };
    expect(() => scaleModel(unknown, COLLECTION_CLASSES, prices, { eventsPerHour: 1000, headroom: 2, cpuUtilization: 0.6 })).toThrow(/mystery has no class/);
  });

  it.each([
    [400, 0],
    [750, 5],
    [5000, 30],
  ])('takes the 500/50/5 ramp %i operations/s after %i minutes', (ops, minutes) => {
    expect(rampMinutes(ops)).toBe(minutes);
  });

  it("reads infra/'s defaults: a function without an entry in function-scaling.json gets max_instances' default, concurrency 1 and its memory's vCPU", () => {
    const scaling = { $comment: '', events_per_hour: 2e6, headroom: 2, measured: { events: 1, processing_seconds: 1 }, functions: { deduplicator: { max_instances: 7, concurrency: 5, available_cpu: '1' } } };
    const s = deployedSettings(readFileSync(join(ROOT, 'infra/main.tf'), 'utf8'), readFileSync(join(ROOT, 'infra/variables.tf'), 'utf8'), scaling, prices);
    expect(s.deduplicator).toEqual({ maxInstances: 7, concurrency: 5, cpu: 1, memoryMiB: 512 });
    expect(s['gap-detector']).toEqual({ maxInstances: 10, concurrency: 1, cpu: prices.cloudRunFunctions.vcpuByMemoryMiB.value['512'], memoryMiB: 512 });
  });
});
