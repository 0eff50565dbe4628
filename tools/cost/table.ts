/**
 * Cost per million events from counted operations: pure arithmetic over what `npm run cost`
 * counted on the local stack and the list prices of tools/cost/prices.json.
 */
import { z } from 'zod';

const Price = z.object({ price: z.number().nonnegative(), source: z.string().nullable(), says: z.string() });
const Value = <T extends z.ZodType>(value: T) => z.object({ value, source: z.string().nullable(), says: z.string() });

/** tools/cost/prices.json: every price with the page it was read from. */
export const Prices = z.object({
  asOf: z.iso.date(),
  currency: z.literal('USD'),
  scope: z.string(),
  pubsub: z.object({
    throughputPerTiB: Price,
    minimumBytesPerRequest: Value(z.number().int().nonnegative()),
    timestampBytes: Value(z.number().int().nonnegative()),
    messageIdBytes: Value(z.number().int().nonnegative()),
    bigQuerySubscriptionPerTiB: Price,
  }),
  cloudRunFunctions: z.object({
    vcpuSecond: Price,
    gibSecond: Price,
    perMillionRequests: Price,
    billingGranularityMs: Value(z.number().int().nonnegative()),
    vcpuByMemoryMiB: Value(z.record(z.string().regex(/^\d+$/), z.number().positive())),
  }),
  firestore: z.object({
    readsPer100k: Price,
    writesPer100k: Price,
    deletesPer100k: Price,
    emptyQueryReads: Value(z.number().int().nonnegative()),
    missingDocumentReads: Value(z.number().int().nonnegative()),
  }),
  notPriced: z.array(z.string()),
});
export type Prices = z.infer<typeof Prices>;

/** What one stage (a function, the producers, the BigQuery subscriptions) did in the run. */
export interface StageCounts {
  readonly name: string;
  /** Push requests to it (redeliveries included), as GCP would send them (subscription filters applied). */
  readonly invocations: number;
  /** Billable bytes of those pushes (one message each). */
  readonly deliveredBytes: number;
  readonly published: { readonly requests: number; readonly messages: number; readonly billableBytes: number };
  /** CPU time of its processes while the stream was processed. */
  readonly cpuSeconds: number;
  /** Time its requests took, added up. */
  readonly requestSeconds: number;
  /**
   * Time its instance had at least one request in flight (the union of the requests' intervals,
   * tools/cost/instance-time.ts), and that rounded up per busy period as Cloud Run bills it: what
   * request-based billing charges CPU and memory for.
   */
  readonly instanceSeconds: number;
  readonly billedInstanceSeconds: number;
  /** Deployed memory (infra/), MiB; 0 for a stage that is not a function. */
  readonly memoryMiB: number;
  /** Deployed vCPU and requests per instance (infra/function-scaling.json through infra/scaling.tf, else infra/main.tf's defaults); 0 for a stage that is not a function. */
  readonly vcpu: number;
  readonly concurrency: number;
  readonly firestore: { readonly reads: number; readonly writes: number; readonly deletes: number };
  /** Bytes written through BigQuery subscriptions (estimated from what their topics carried). */
  readonly bigQueryBytes: number;
}

/** A stage that did nothing yet: the counts to fill in. */
export function noWork(name: string): StageCounts {
  return {
    name,
    invocations: 0,
    deliveredBytes: 0,
    published: { requests: 0, messages: 0, billableBytes: 0 },
    cpuSeconds: 0,
    requestSeconds: 0,
    instanceSeconds: 0,
    billedInstanceSeconds: 0,
    memoryMiB: 0,
    vcpu: 0,
    concurrency: 0,
    firestore: { reads: 0, writes: 0, deletes: 0 },
    bigQueryBytes: 0,
  };
}

export interface StageCost {
  readonly name: string;
  readonly pubsub: number;
  readonly requests: number;
  /** CPU and memory as billed: the instance's billable time at its deployed vCPU and memory. */
  readonly compute: number;
  /** Compute had CPU been billed as used rather than as allocated while the instance is busy. */
  readonly computeAsUsed: number;
  readonly firestore: number;
  readonly bigQuery: number;
  readonly total: number;
}

const TIB = 2 ** 40;

/** Billable bytes of one Publish request whose messages have these sizes (data + attributes). */
export function publishBillableBytes(messageBytes: readonly number[], prices: Prices): number {
  const p = prices.pubsub;
  const volume = messageBytes.reduce((n, b) => n + b + p.timestampBytes.value + p.messageIdBytes.value, 0);
  return Math.max(p.minimumBytesPerRequest.value, volume);
}

/** Billable bytes of one push (one message; `bytes` includes its id). */
export function pushBillableBytes(bytes: number, prices: Prices): number {
  return Math.max(prices.pubsub.minimumBytesPerRequest.value, bytes + prices.pubsub.timestampBytes.value);
}

/** The vCPU a function gets for its memory (no CPU set in infra/). */
export function vcpuFor(memoryMiB: number, prices: Prices): number {
  const vcpu = prices.cloudRunFunctions.vcpuByMemoryMiB.value[String(memoryMiB)];
  if (vcpu === undefined) throw new RangeError(`no vCPU tier for ${memoryMiB} MiB in prices.json`);
  return vcpu;
}

/**
 * CPU and memory of `instanceSeconds` of billable instance time at `vcpu` and `memoryMiB`: what
 * `npm run cost` charges for a run's counted instance time and the scale model for its busy
 * instances, one formula for both.
 */
export function computeUsd(instanceSeconds: number, vcpu: number, memoryMiB: number, prices: Prices): number {
  const run = prices.cloudRunFunctions;
  return instanceSeconds * (vcpu * run.vcpuSecond.price + (memoryMiB / 1024) * run.gibSecond.price);
}

/** Prices one stage's counts, scaled by `scale` (e.g. 1e6 / events). */
export function stageCost(s: StageCounts, prices: Prices, scale: number): StageCost {
  const run = prices.cloudRunFunctions;
  const fs = prices.firestore;
  const pubsub = ((s.deliveredBytes + s.published.billableBytes) / TIB) * prices.pubsub.throughputPerTiB.price;
  const requests = (s.invocations / 1e6) * run.perMillionRequests.price;
  const isFunction = s.memoryMiB > 0;
  const compute = isFunction ? computeUsd(s.billedInstanceSeconds, s.vcpu, s.memoryMiB, prices) : 0;
  const computeAsUsed = isFunction ? s.cpuSeconds * run.vcpuSecond.price + computeUsd(s.billedInstanceSeconds, 0, s.memoryMiB, prices) : 0;
  const firestore = (s.firestore.reads * fs.readsPer100k.price + s.firestore.writes * fs.writesPer100k.price + s.firestore.deletes * fs.deletesPer100k.price) / 1e5;
  const bigQuery = (s.bigQueryBytes / TIB) * prices.pubsub.bigQuerySubscriptionPerTiB.price;
  const k = scale;
  return {
    name: s.name,
    pubsub: pubsub * k,
    requests: requests * k,
    compute: compute * k,
    computeAsUsed: computeAsUsed * k,
    firestore: firestore * k,
    bigQuery: bigQuery * k,
    total: (pubsub + requests + compute + firestore + bigQuery) * k,
  };
}

const money = (n: number) => (n === 0 ? '–' : n < 0.01 ? `$${n.toFixed(4)}` : `$${n.toFixed(2)}`);
const gib = (bytes: number) => (bytes === 0 ? '–' : (bytes / 2 ** 30).toFixed(2));
const count = (n: number) => (n === 0 ? '–' : n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1));

/** Two Markdown tables per million events: what each stage did, and what it costs at list price. */
export function renderCostTables(stages: readonly StageCounts[], prices: Prices, events: number): string {
  const scale = 1e6 / events;
  const costs = stages.map((s) => stageCost(s, prices, scale));
  const sum = (f: (c: StageCost) => number) => costs.reduce((n, c) => n + f(c), 0);
  const counts = [
    '| stage | invocations (pushes) | published msgs (requests) | Pub/Sub GiB billed | CPU-s used | request-s | instance-s busy (billed) | Firestore reads | writes | deletes |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...stages.map((s) =>
      [
        s.name,
        count(s.invocations * scale),
        `${count(s.published.messages * scale)} (${count(s.published.requests * scale)})`,
        gib((s.deliveredBytes + s.published.billableBytes) * scale),
        count(s.cpuSeconds * scale),
        count(s.requestSeconds * scale),
        s.memoryMiB > 0 ? `${count(s.instanceSeconds * scale)} (${count(s.billedInstanceSeconds * scale)})` : '–',
        count(s.firestore.reads * scale),
        count(s.firestore.writes * scale),
        count(s.firestore.deletes * scale),
      ].join(' | '),
    ).map((row) => `| ${row} |`),
  ];
  const money4 = (c: StageCost) => [c.name, money(c.pubsub), money(c.requests), money(c.compute), money(c.firestore), money(c.bigQuery), money(c.total), money(c.computeAsUsed)];
  const table = [
    '| stage | Pub/Sub | requests | CPU + memory (billed instance time) | Firestore | BigQuery subs | total | (CPU + memory, CPU as used) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...costs.map((c) => `| ${money4(c).join(' | ')} |`),
    `| **total** | ${money(sum((c) => c.pubsub))} | ${money(sum((c) => c.requests))} | ${money(sum((c) => c.compute))} | ${money(sum((c) => c.firestore))} | ${money(sum((c) => c.bigQuery))} | **${money(sum((c) => c.total))}** | ${money(sum((c) => c.computeAsUsed))} |`,
  ];
  const deployed = stages.filter((s) => s.memoryMiB > 0).map((s) => `${s.name} ${s.vcpu} vCPU, ${s.memoryMiB} MiB, concurrency ${s.concurrency}`);
  return [
    `Per million events (counted on ${events.toLocaleString('en-US')} events, scaled ×${scale.toFixed(1)}):`,
    '',
    ...counts,
    '',
    `At list prices of ${prices.asOf} (tools/cost/prices.json); CPU + memory as request-based billing charges it: the time each function's instance had a request in flight, each busy period rounded up to ${prices.cloudRunFunctions.billingGranularityMs.value} ms, at its deployed size (${deployed.join('; ')}):`,
    '',
    ...table,
    '',
  ].join('\n');
}

/** Who sent the stream's events (shares of all events) and of which types. */
export interface StreamMix {
  readonly messages: number;
  readonly events: number;
  readonly busiestSource: { readonly source: string; readonly share: number } | null;
  readonly sources: Record<string, number>;
  readonly types: Record<string, number>;
}

/** One stage in `npm run cost -- --json`: its counts per event and its cost per million events. */
export interface StageJson {
  readonly counted: StageCounts;
  readonly per_event: {
    readonly invocations: number;
    readonly published_messages: number;
    readonly cpu_seconds: number;
    readonly request_seconds: number;
    readonly instance_seconds: number;
    readonly billed_instance_seconds: number;
    readonly firestore_reads: number;
    readonly firestore_writes: number;
    readonly firestore_deletes: number;
  };
  readonly usd_per_million: Omit<StageCost, 'name'>;
}

/** `npm run cost -- --json FILE`: the total and every stage per million events, from the same counts as the tables. */
export function costJson<T extends object>(stages: readonly StageCounts[], prices: Prices, events: number, extra: T): { per_million_usd: number; events: number; asOf: string; stages: Record<string, StageJson> } & T {
  const scale = 1e6 / events;
  const out: Record<string, StageJson> = {};
  let total = 0;
  for (const s of stages) {
    const { name, ...cost } = stageCost(s, prices, scale);
    total += cost.total;
    const per = (n: number) => n / events;
    out[name] = {
      counted: s,
      per_event: {
        invocations: per(s.invocations),
        published_messages: per(s.published.messages),
        cpu_seconds: per(s.cpuSeconds),
        request_seconds: per(s.requestSeconds),
        instance_seconds: per(s.instanceSeconds),
        billed_instance_seconds: per(s.billedInstanceSeconds),
        firestore_reads: per(s.firestore.reads),
        firestore_writes: per(s.firestore.writes),
        firestore_deletes: per(s.firestore.deletes),
      },
      usd_per_million: cost,
    };
  }
  return { per_million_usd: Number(total.toFixed(4)), events, asOf: prices.asOf, stages: out, ...extra };
}

/** The per-collection writes of the run and the stream's busiest producer. */
export function renderDocumentTable(docs: { readonly collections: ReadonlyArray<{ collection: string; documents: number; writes: number; deletes: number; maxWritesPerDocument: number; peakWritesPerSecond: number }>; readonly histogram: Record<string, number> }, stream: StreamMix): string {
  return [
    `Firestore writes per document (${stream.events.toLocaleString('en-US')} events; busiest producer ${stream.busiestSource ? `${stream.busiestSource.source} at ${(stream.busiestSource.share * 100).toFixed(1)} %` : 'none'}):`,
    '',
    '| collection | documents | writes | deletes | most writes on one document | most writes on one document in one second |',
    '|---|---:|---:|---:|---:|---:|',
    ...docs.collections.map((c) => `| ${c.collection} | ${c.documents} | ${c.writes} | ${c.deletes} | ${c.maxWritesPerDocument} | ${c.peakWritesPerSecond} |`),
    '',
    `Documents by writes over the run: ${Object.entries(docs.histogram).map(([bucket, n]) => `${bucket}: ${n}`).join(', ')}`,
    '',
  ].join('\n');
}
