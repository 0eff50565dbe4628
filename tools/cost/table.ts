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
  bigtable: z.object({
    nodeHour: Price,
    ssdGibMonth: Price,
    ssdRowsPerSecondPerNode: Value(z.object({ read: z.number().positive(), write: z.number().positive() })),
    cpuTarget: Value(z.number().positive().max(1)),
    minNodes: Value(z.number().int().positive()),
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
  /** Bigtable rows its processes had served (tools/cost/meter.ts); absent in measurements made before Bigtable was counted. */
  readonly bigtable?: BigtableRows;
  /** Bytes written through BigQuery subscriptions (estimated from what their topics carried). */
  readonly bigQueryBytes: number;
}

/** Bigtable rows a stage had served: what a node's capacity is stated in (tools/cost/meter.ts counts them). */
export interface BigtableRows {
  readonly rowsRead: number;
  /** Reads that found no row: node work all the same, taken as one row each. */
  readonly emptyReads: number;
  readonly rowsWritten: number;
  readonly rowsDeleted: number;
  /** Row keys, family names, qualifiers and values of the cells written. */
  readonly bytesWritten: number;
  /** The same of the rows alive at the end of the run (each cell's latest version): what the tables gained. */
  readonly storedBytes: number;
}

const NO_BIGTABLE_ROWS: BigtableRows = { rowsRead: 0, emptyReads: 0, rowsWritten: 0, rowsDeleted: 0, bytesWritten: 0, storedBytes: 0 };

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
    bigtable: NO_BIGTABLE_ROWS,
    bigQueryBytes: 0,
  };
}

export const HOURS_PER_MONTH = 730;
/** The rate the seeds name (2M events an hour), at which `npm run cost` amortises Bigtable's nodes by default. */
export const DEFAULT_EVENTS_PER_HOUR = 2_000_000;

/**
 * Bigtable at a rate: it bills provisioned nodes by the hour whatever they serve (and stored bytes
 * by the month), not operations, so its cost per event exists only at a rate. The rows counted per
 * event, at `events_per_hour`, take `node_load` of one node at full CPU (reads over a node's read
 * rate plus writes and deletes over its write rate, as Google's performance page states them);
 * `nodes` keeps each at or below the CPU target (at least one node, when any row was counted).
 */
export interface BigtableSizing {
  readonly events_per_hour: number;
  readonly rows_per_event: { readonly read: number; readonly written: number; readonly deleted: number };
  readonly rows_per_s: { readonly read: number; readonly written: number; readonly deleted: number };
  readonly node_load: number;
  readonly cpu_target: number;
  readonly nodes: number;
  /** Bytes of the rows alive at the end of the run, per event (each cell's latest version), kept for `retention_hours` (each stage's tables' own, averaged by bytes): the tables' size at the rate, before compression. */
  readonly stored_bytes_per_event: number;
  readonly retention_hours: number;
  readonly stored_gib: number;
  readonly usd_per_hour: { readonly nodes: number; readonly storage: number };
  readonly usd_per_million: number;
}

const UNIT_HOURS = { DAYS: 24, HOURS: 1, MINUTES: 1 / 60, SECONDS: 1 / 3600 } as const;

/**
 * How long each function's Bigtable tables keep a cell, in hours, by function: the longest
 * garbage-collection max age of the tables it lists (shared/topology.ts `maxAge`: its settings at
 * their defaults, in the unit each name ends with, plus the margin). The deduplicator's keys go
 * after a week, the checkers' decisions after 30 days. Garbage collection may run up to a week later
 * (https://cloud.google.com/bigtable/docs/garbage-collection), so storage priced over it is a floor.
 */
export function bigtableRetentionHours(
  functions: ReadonlyArray<{ readonly name: string; readonly bigtable?: ReadonlyArray<{ readonly maxAge?: { readonly settings: Readonly<Record<string, number>>; readonly marginHours: number } }> }>,
): Record<string, number> {
  const hours: Record<string, number> = {};
  for (const f of functions) {
    for (const t of f.bigtable ?? []) {
      if (!t.maxAge) continue;
      const age = Object.entries(t.maxAge.settings).reduce((n, [name, value]) => n + value * UNIT_HOURS[name.slice(name.lastIndexOf('_') + 1) as keyof typeof UNIT_HOURS], 0) + t.maxAge.marginHours;
      hours[f.name] = Math.max(hours[f.name] ?? 0, age);
    }
  }
  return hours;
}

/** Sizes and prices Bigtable for what `stages` counted over `events` events, at `eventsPerHour`. */
export function bigtableSizing(
  stages: readonly Pick<StageCounts, 'name' | 'bigtable'>[],
  events: number,
  eventsPerHour: number,
  retentionHours: Readonly<Record<string, number>>,
  prices: Prices,
): BigtableSizing {
  if (!(events > 0) || !(eventsPerHour > 0)) throw new RangeError('bigtableSizing: events and eventsPerHour must be positive');
  const bt = prices.bigtable;
  let read = 0;
  let written = 0;
  let deleted = 0;
  let storedBytes = 0;
  /** Bytes kept per event times the hours each stage's tables keep them. */
  let storedByteHours = 0;
  for (const s of stages) {
    const r = s.bigtable ?? NO_BIGTABLE_ROWS;
    read += r.rowsRead + r.emptyReads;
    written += r.rowsWritten;
    deleted += r.rowsDeleted;
    // What the tables gained over the run (rows deleted again and cells overwritten count once, or not at all) stays for the retention.
    storedBytes += Math.max(0, r.storedBytes);
    storedByteHours += Math.max(0, r.storedBytes) * (retentionHours[s.name] ?? Math.max(0, ...Object.values(retentionHours)));
  }
  const eps = eventsPerHour / 3600;
  const perEvent = { read: read / events, written: written / events, deleted: deleted / events };
  const perSecond = { read: perEvent.read * eps, written: perEvent.written * eps, deleted: perEvent.deleted * eps };
  const capacity = bt.ssdRowsPerSecondPerNode.value;
  const nodeLoad = perSecond.read / capacity.read + (perSecond.written + perSecond.deleted) / capacity.write;
  const used = read + written + deleted > 0;
  const nodes = used ? Math.max(bt.minNodes.value, Math.ceil(nodeLoad / bt.cpuTarget.value)) : 0;
  const storedPerEvent = storedBytes / events;
  const storedGib = ((storedByteHours / events) * eventsPerHour) / 2 ** 30;
  const perHour = { nodes: nodes * bt.nodeHour.price, storage: (storedGib * bt.ssdGibMonth.price) / HOURS_PER_MONTH };
  return {
    events_per_hour: eventsPerHour,
    rows_per_event: perEvent,
    rows_per_s: perSecond,
    node_load: nodeLoad,
    cpu_target: bt.cpuTarget.value,
    nodes,
    stored_bytes_per_event: storedPerEvent,
    retention_hours: storedBytes > 0 ? storedByteHours / storedBytes : 0,
    stored_gib: storedGib,
    usd_per_hour: perHour,
    usd_per_million: ((perHour.nodes + perHour.storage) * 1e6) / eventsPerHour,
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
 * The time CPU work of `cpuSeconds` adds on an instance of `vcpu` vCPU beyond what it took on the
 * local stack, whose processes run unthrottled on whole cores: below 1 vCPU the same work takes
 * 1/vcpu as long (Cloud Run allows 0.08 to 1 vCPU in steps of 0.001, and then concurrency 1,
 * https://cloud.google.com/run/docs/configuring/services/cpu). What `npm run cost` adds to a
 * function's billed instance time, and the scale model to its request time, at such a CPU.
 */
export function throttledSeconds(cpuSeconds: number, vcpu: number): number {
  return vcpu >= 1 ? 0 : cpuSeconds * (1 / vcpu - 1);
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

/**
 * Two Markdown tables per million events: what each stage did, and what it costs at list price.
 * Bigtable, billed by the node-hour, is one line of its own, priced at the rate `bigtable` was sized for.
 */
export function renderCostTables(stages: readonly StageCounts[], prices: Prices, events: number, bigtable?: BigtableSizing): string {
  const scale = 1e6 / events;
  const costs = stages.map((s) => stageCost(s, prices, scale));
  const sum = (f: (c: StageCost) => number) => costs.reduce((n, c) => n + f(c), 0);
  const bigtableUsd = bigtable?.usd_per_million ?? 0;
  const rows = (s: StageCounts) => s.bigtable ?? NO_BIGTABLE_ROWS;
  const counts = [
    '| stage | invocations (pushes) | published msgs (requests) | Pub/Sub GiB billed | CPU-s used | request-s | instance-s busy (billed) | Firestore reads | writes | deletes | Bigtable rows read | written | deleted |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
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
        count((rows(s).rowsRead + rows(s).emptyReads) * scale),
        count(rows(s).rowsWritten * scale),
        count(rows(s).rowsDeleted * scale),
      ].join(' | '),
    ).map((row) => `| ${row} |`),
  ];
  const money4 = (c: StageCost) => [c.name, money(c.pubsub), money(c.requests), money(c.compute), money(c.firestore), '–', money(c.bigQuery), money(c.total), money(c.computeAsUsed)];
  const table = [
    '| stage | Pub/Sub | requests | CPU + memory (billed instance time) | Firestore | Bigtable | BigQuery subs | total | (CPU + memory, CPU as used) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...costs.map((c) => `| ${money4(c).join(' | ')} |`),
    ...(bigtable ? [`| Bigtable: ${bigtable.nodes} node${bigtable.nodes === 1 ? '' : 's'} at ${bigtable.events_per_hour.toLocaleString('en-US')} events/hour | – | – | – | – | ${money(bigtableUsd)} | – | ${money(bigtableUsd)} | – |`] : []),
    `| **total** | ${money(sum((c) => c.pubsub))} | ${money(sum((c) => c.requests))} | ${money(sum((c) => c.compute))} | ${money(sum((c) => c.firestore))} | ${money(bigtableUsd)} | ${money(sum((c) => c.bigQuery))} | **${money(sum((c) => c.total) + bigtableUsd)}** | ${money(sum((c) => c.computeAsUsed))} |`,
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
    ...(bigtable ? [bigtableLine(bigtable, prices), ''] : []),
  ].join('\n');
}

/** How the Bigtable line was priced: the rate, the rows, the node load, the nodes and what they cost. */
export function bigtableLine(b: BigtableSizing, prices: Prices): string {
  const bt = prices.bigtable;
  const per = (n: number) => n.toFixed(2);
  if (b.nodes === 0) return 'Bigtable: no row counted (the functions kept their state in Firestore): no node priced.';
  return (
    `Bigtable bills nodes by the hour, not operations, so it is priced at a rate: at ${b.events_per_hour.toLocaleString('en-US')} events/hour (--events-per-hour) ` +
    `the rows counted (${per(b.rows_per_event.read)} read, ${per(b.rows_per_event.written)} written, ${per(b.rows_per_event.deleted)} deleted per event; ` +
    `${Math.round(b.rows_per_s.read).toLocaleString('en-US')} / ${Math.round(b.rows_per_s.written).toLocaleString('en-US')} / ${Math.round(b.rows_per_s.deleted).toLocaleString('en-US')} a second) ` +
    `take ${(b.node_load * 100).toFixed(1)} % of an SSD node (${bt.ssdRowsPerSecondPerNode.value.read.toLocaleString('en-US')} rows/s read or ${bt.ssdRowsPerSecondPerNode.value.write.toLocaleString('en-US')} written); ` +
    `at the ${(b.cpu_target * 100).toFixed(0)} % CPU target that is ${b.nodes} node${b.nodes === 1 ? '' : 's'} (at least ${bt.minNodes.value}) at $${bt.nodeHour.price}/node-hour = $${b.usd_per_hour.nodes.toFixed(2)}/hour, ` +
    `plus ${b.stored_gib.toFixed(1)} GiB of SSD kept ${Math.round(b.retention_hours / 24)} days ($${b.usd_per_hour.storage.toFixed(3)}/hour): $${b.usd_per_million.toFixed(3)} per million events at this rate, more below it (a node is billed idle).`
  );
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
    readonly bigtable_rows_read: number;
    readonly bigtable_rows_written: number;
    readonly bigtable_rows_deleted: number;
  };
  readonly usd_per_million: Omit<StageCost, 'name'>;
}

/**
 * `npm run cost -- --json FILE`: the total and every stage per million events, from the same counts as
 * the tables, and Bigtable's line (null when not sized), its cost in the total.
 */
export function costJson<T extends object>(
  stages: readonly StageCounts[],
  prices: Prices,
  events: number,
  extra: T,
  bigtable?: BigtableSizing,
): { per_million_usd: number; events: number; asOf: string; stages: Record<string, StageJson>; bigtable: BigtableSizing | null } & T {
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
        bigtable_rows_read: per((s.bigtable ?? NO_BIGTABLE_ROWS).rowsRead + (s.bigtable ?? NO_BIGTABLE_ROWS).emptyReads),
        bigtable_rows_written: per((s.bigtable ?? NO_BIGTABLE_ROWS).rowsWritten),
        bigtable_rows_deleted: per((s.bigtable ?? NO_BIGTABLE_ROWS).rowsDeleted),
      },
      usd_per_million: cost,
    };
  }
  total += bigtable?.usd_per_million ?? 0;
  return { per_million_usd: Number(total.toFixed(4)), events, asOf: prices.asOf, stages: out, bigtable: bigtable ?? null, ...extra };
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
