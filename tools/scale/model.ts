/**
 * The scale model (`npm run scale`): pure arithmetic from what a cost run counted per event
 * (`npm run cost -- --json`) to what a rate of N events an hour needs: per function the
 * invocations a second, the instances at a concurrency and CPU, Firestore operations a second,
 * the busiest document's writes a second, the cost a month, and which limit is reached first.
 *
 * Limits and defaults it holds the numbers against, each from Google's pages:
 * - Cloud Run: up to 80 concurrent requests per instance by default, at most 1000
 *   (https://cloud.google.com/run/docs/about-concurrency); an instance gets concurrent requests
 *   only when it has at least 1 vCPU (https://cloud.google.com/run/docs/configuring/services/cpu:
 *   "less than 1 vCPU ... concurrency must be 1"); each function has its own maximum instances
 *   (https://cloud.google.com/functions/docs/configuring/max-instances).
 * - Firestore: about one sustained write a second per document, and a new collection served at
 *   500 operations a second, raised by half every 5 minutes (the 500/50/5 rule)
 *   (https://cloud.google.com/firestore/docs/best-practices#hotspots, #ramping_up_traffic).
 * - Bigtable: an SSD node serves about 17,000 rows read or 14,000 written a second
 *   (https://cloud.google.com/bigtable/docs/performance), kept at or below 70 % average CPU on a
 *   single cluster (https://cloud.google.com/bigtable/docs/monitoring-instance), at least one node
 *   (https://cloud.google.com/bigtable/docs/instances-clusters-nodes), billed per node-hour whatever it
 *   serves (https://cloud.google.com/bigtable/pricing): the rows counted per event give the nodes at
 *   N events an hour, and the rate at which the nodes checked reach the CPU target is a limit.
 *
 * Compute is priced as `npm run cost` prices it, by instance time: request-based billing charges an
 * instance while it has at least one request in flight (https://cloud.google.com/run/pricing;
 * tools/cost/instance-time.ts). One quantity drives both the instances and their cost: the busy
 * instance time per event at the settings checked, `busy_seconds_per_event` = invocations per
 * event × request time / requests in flight per busy instance (the concurrency, or fewer where
 * the CPU is the bound). Instances = that × events per second; compute = that × the vCPU and
 * memory prices (tools/cost/table.ts `computeUsd`, the cost run's own formula). The model's
 * instances are kept full, so their busy periods run on and the 100 ms rounding of each adds
 * nothing here; the cost run, on the local stack's sparser traffic, counts it.
 */
import { topology } from '../../shared/topology';
import type { DocumentWrites } from '../cost/documents';
import { bigtableRetentionHours, bigtableSizing, computeUsd, HOURS_PER_MONTH, stageCost, throttledSeconds, vcpuFor, type BigtableSizing, type Prices, type StageCounts } from '../cost/table';
import type { CollectionClass } from './collections';

/** What the model reads of a cost run's JSON (`npm run cost -- --json FILE`). */
export interface Measurement {
  readonly events: number;
  readonly asOf: string;
  readonly memoryMiB: number;
  readonly run: { readonly processingSeconds: number; readonly scale: number | null; readonly seed: number };
  readonly stages: Record<string, { readonly counted: StageCounts }>;
  readonly documents: DocumentWrites;
  readonly stream: { readonly events: number; readonly busiestSource: { readonly source: string; readonly share: number } | null };
}

/** How a function is deployed (or would be): what the model checks a rate against. */
export interface FunctionSettings {
  readonly maxInstances: number;
  readonly concurrency: number;
  /** vCPU per instance. */
  readonly cpu: number;
  readonly memoryMiB: number;
}

export interface ScaleOptions {
  readonly eventsPerHour: number;
  /** Instances to allow beyond the steady need (bursts, a backlog to drain, uneven spread): ×2 by default. */
  readonly headroom: number;
  /** The CPU an instance may be kept busy at before it counts as full. */
  readonly cpuUtilization: number;
  /** Settings to check; a function not listed is checked at the model's recommendation. */
  readonly settings?: Readonly<Record<string, FunctionSettings>>;
  /** Bigtable nodes to check (a deployment's count); unset: the nodes the rate needs at the CPU target. */
  readonly bigtableNodes?: number;
}

export const DEFAULT_SCALE = { headroom: 2, cpuUtilization: 0.6 } as const;
/** Cloud Run's default and maximum concurrent requests per instance (about-concurrency). */
export const CLOUD_RUN_DEFAULT_CONCURRENCY = 80;
export const CLOUD_RUN_MAX_CONCURRENCY = 1000;
/** Firestore's sustained writes a second per document, and a new collection's first operations a second. */
export const DOCUMENT_WRITES_PER_SECOND = 1;
export const FIRESTORE_RAMP_START_OPS = 500;

export interface FunctionScale {
  readonly invocations_per_event: number;
  readonly invocations_per_s: number;
  /** Mean wall time of a request, and CPU time per request, as measured on the local stack. */
  readonly request_seconds: number;
  readonly cpu_seconds_per_request: number;
  /** The settings checked. */
  readonly concurrency: number;
  readonly cpu: number;
  readonly max_instances: number;
  /** Requests a second one instance serves at those settings. */
  readonly per_instance_per_s: number;
  /** Requests in flight on a busy instance at those settings (concurrency, or fewer where the CPU bounds it). */
  readonly in_flight_per_instance: number;
  /** Busy instance time per event at those settings: what the instances and the compute cost both come from. */
  readonly busy_seconds_per_event: number;
  /** The cost run's own busy instance time per event (its traffic, its deployed concurrency), where the measurement counted it. */
  readonly measured_busy_seconds_per_event: number | null;
  /** CPU + memory per million events: the busy time at the settings' vCPU and memory. */
  readonly compute_usd_per_million: number;
  /** Instances busy at the rate (steady), and with the headroom. */
  readonly instances: number;
  readonly instances_with_headroom: number;
  readonly within_max_instances: boolean;
  /** What the model recommends: concurrency and CPU from the measured times, max_instances with the headroom. */
  readonly recommended: { readonly concurrency: number; readonly cpu: number; readonly max_instances: number };
}

/**
 * Bigtable at the rate (null when the measurement counted no Bigtable row: a Firestore run, or one
 * measured before Bigtable was counted): the sizing of tools/cost/table.ts, the nodes checked, when
 * they reach the CPU target, and the month.
 */
export interface BigtableScale extends BigtableSizing {
  /** The nodes the rate needs at the CPU target (at least one). */
  readonly nodes_needed: number;
  /** The nodes checked and priced: `--bigtable-nodes`, else those needed. */
  readonly nodes_checked: number;
  readonly within_nodes: boolean;
  readonly monthly_usd: number;
}

export interface Limit {
  readonly name: string;
  /** `hard`: beyond it messages back up or fail; `soft`: Firestore ramps up to it over minutes. */
  readonly kind: 'hard' | 'soft';
  /** Events an hour at which it is reached (null: not with traffic). */
  readonly at_events_per_hour: number | null;
  readonly detail: string;
}

export interface ScaleResult {
  readonly events_per_hour: number;
  readonly events_per_s: number;
  readonly within_limits: boolean;
  readonly first_limit: Limit | null;
  readonly limits: Limit[];
  readonly monthly_usd: number;
  readonly per_million_usd: number;
  readonly hottest_document_writes_per_s: number;
  readonly hottest_document: { readonly collection: string; readonly kind: CollectionClass['kind']; readonly why: string };
  readonly firestore_ops_per_s: { readonly reads: number; readonly writes: number; readonly deletes: number };
  readonly per_function: Record<string, FunctionScale>;
  readonly bigtable: BigtableScale | null;
  readonly measured: { readonly events: number; readonly asOf: string; readonly busiest_source: Measurement['stream']['busiestSource']; readonly processing_seconds: number };
}

/** Concurrency at which an instance's CPU, not its requests in flight, becomes the bound. */
export function recommendedConcurrency(requestSeconds: number, cpuSecondsPerRequest: number, cpu: number, utilization: number): number {
  if (cpu < 1) return 1;
  if (cpuSecondsPerRequest <= 0) return CLOUD_RUN_DEFAULT_CONCURRENCY;
  const bound = Math.floor((utilization * cpu * requestSeconds) / cpuSecondsPerRequest);
  return Math.max(1, Math.min(CLOUD_RUN_DEFAULT_CONCURRENCY, bound));
}

/**
 * The cheaper way to deploy a function, by `usd` (its compute per million events at given
 * settings): 1 vCPU (at least) at the concurrency its CPU allows, or, where the memory's own
 * tier is below 1 vCPU, that fraction at concurrency 1 (Cloud Run requires concurrency 1 there,
 * https://cloud.google.com/run/docs/configuring/services/cpu). A function that spends most of a
 * request waiting and cannot share an instance anyway (its CPU per request allows concurrency 1)
 * is cheaper on the fraction: it pays 0.333 vCPU while it waits, not 1.
 */
export function recommendedSettings(
  requestSeconds: number,
  cpuSecondsPerRequest: number,
  tierCpu: number,
  utilization: number,
  usd: (s: { concurrency: number; cpu: number }) => number,
): { concurrency: number; cpu: number } {
  const whole = { concurrency: recommendedConcurrency(requestSeconds, cpuSecondsPerRequest, Math.max(1, tierCpu), utilization), cpu: Math.max(1, tierCpu) };
  if (tierCpu >= 1) return whole;
  const fraction = { concurrency: 1, cpu: tierCpu };
  return usd(fraction) < usd(whole) ? fraction : whole;
}

/** Requests a second one instance serves: its concurrency over the request time, or its CPU over the CPU per request. */
export function perInstanceRate(s: Pick<FunctionSettings, 'concurrency' | 'cpu'>, requestSeconds: number, cpuSecondsPerRequest: number, utilization: number): number {
  const byConcurrency = s.concurrency / requestSeconds;
  // At concurrency 1 the request time already holds its CPU time: the instance serves one at a time.
  if (s.concurrency === 1 || cpuSecondsPerRequest <= 0) return byConcurrency;
  return Math.min(byConcurrency, (utilization * s.cpu) / cpuSecondsPerRequest);
}

export function scaleModel(m: Measurement, classes: Readonly<Record<string, CollectionClass>>, prices: Prices, options: ScaleOptions): ScaleResult {
  const eps = options.eventsPerHour / 3600;
  const perEvent = (n: number) => n / m.events;
  const perFunction: Record<string, FunctionScale> = {};
  const limits: Limit[] = [];
  let monthly = 0;
  let perMillion = 0;
  const ops = { reads: 0, writes: 0, deletes: 0 };
  for (const [name, { counted }] of Object.entries(m.stages)) {
    ops.reads += perEvent(counted.firestore.reads) * eps;
    ops.writes += perEvent(counted.firestore.writes) * eps;
    ops.deletes += perEvent(counted.firestore.deletes) * eps;
    const cost = stageCost(counted, prices, 1e6 / m.events);
    // What does not depend on how instances are kept busy; compute comes from the busy time below
    // (a measurement written before instance time was counted has none of its own).
    const countedUsd = cost.pubsub + cost.requests + cost.firestore + cost.bigQuery;
    if (counted.memoryMiB === 0 || counted.invocations === 0) {
      perMillion += countedUsd;
      continue;
    }
    const rate = perEvent(counted.invocations) * eps;
    const requestSeconds = counted.requestSeconds / counted.invocations;
    const cpuPerRequest = counted.cpuSeconds / counted.invocations;
    // Busy instance seconds per event at some settings: each request holds 1/in-flight of an
    // instance for its time there (longer below 1 vCPU: throttledSeconds).
    const atSettings = (s: Pick<FunctionSettings, 'concurrency' | 'cpu'> & { memoryMiB?: number }) => {
      const seconds = requestSeconds + throttledSeconds(cpuPerRequest, s.cpu);
      const perInstance = perInstanceRate(s, seconds, cpuPerRequest, options.cpuUtilization);
      const busyPerEvent = perEvent(counted.invocations) / perInstance;
      return { seconds, perInstance, busyPerEvent, usd: computeUsd(busyPerEvent * 1e6, s.cpu, s.memoryMiB ?? counted.memoryMiB, prices) };
    };
    const recommended = recommendedSettings(requestSeconds, cpuPerRequest, vcpuFor(counted.memoryMiB, prices), options.cpuUtilization, (c) => atSettings(c).usd);
    const rec = atSettings(recommended);
    const recommendedFull = { ...recommended, max_instances: Math.max(1, Math.ceil((rate / rec.perInstance) * options.headroom)) };
    const s = options.settings?.[name] ?? { maxInstances: recommendedFull.max_instances, concurrency: recommended.concurrency, cpu: recommended.cpu, memoryMiB: counted.memoryMiB };
    const at = atSettings(s);
    const { perInstance, busyPerEvent, usd: computePerMillion } = at;
    const instances = busyPerEvent * eps;
    perFunction[name] = {
      invocations_per_event: perEvent(counted.invocations),
      invocations_per_s: rate,
      request_seconds: requestSeconds,
      cpu_seconds_per_request: cpuPerRequest,
      concurrency: s.concurrency,
      cpu: s.cpu,
      max_instances: s.maxInstances,
      per_instance_per_s: perInstance,
      in_flight_per_instance: perInstance * at.seconds,
      busy_seconds_per_event: busyPerEvent,
      measured_busy_seconds_per_event: typeof counted.instanceSeconds === 'number' ? perEvent(counted.instanceSeconds) : null,
      compute_usd_per_million: computePerMillion,
      instances: Math.ceil(instances),
      instances_with_headroom: Math.ceil(instances * options.headroom),
      within_max_instances: instances * options.headroom <= s.maxInstances,
      recommended: recommendedFull,
    };
    // Reached where the steady need fills max_instances: beyond it the backlog grows. The
    // headroom is used up earlier, at 1/headroom of that (within_max_instances says whether it is kept).
    limits.push({
      name: `${name} max_instances`,
      kind: 'hard',
      at_events_per_hour: (options.eventsPerHour * s.maxInstances) / instances,
      detail: `${s.maxInstances} instances at concurrency ${s.concurrency} and ${s.cpu} vCPU serve ${(s.maxInstances * perInstance).toFixed(0)} requests/s; its ${options.headroom}x headroom is used up at ${Math.round((options.eventsPerHour * s.maxInstances) / (instances * options.headroom)).toLocaleString('en-US')} events/hour`,
    });
    // Requests, Pub/Sub and Firestore per event as counted; compute from the busy time at these settings.
    perMillion += countedUsd + computePerMillion;
  }
  // Bigtable's nodes at this rate: rows kept (not deleted by their stage) stay for the tables' GC max age.
  const sized = bigtableSizing(
    Object.values(m.stages).map((s) => s.counted),
    m.events,
    options.eventsPerHour,
    bigtableRetentionHours(topology.functions),
    prices,
  );
  let bigtable: BigtableScale | null = null;
  if (sized.nodes > 0) {
    const checked = options.bigtableNodes ?? sized.nodes;
    const perHour = { nodes: checked * prices.bigtable.nodeHour.price, storage: sized.usd_per_hour.storage };
    const usdPerMillion = ((perHour.nodes + perHour.storage) * 1e6) / options.eventsPerHour;
    bigtable = {
      ...sized,
      nodes_needed: sized.nodes,
      nodes_checked: checked,
      within_nodes: checked >= sized.nodes,
      usd_per_hour: perHour,
      usd_per_million: usdPerMillion,
      monthly_usd: round((perHour.nodes + perHour.storage) * HOURS_PER_MONTH, 2),
    };
    perMillion += usdPerMillion;
    // The node load grows with the rate: the nodes checked reach the CPU target at this many events an hour.
    const loadPerEventPerHour = sized.node_load / options.eventsPerHour;
    limits.push({
      name: `Bigtable nodes (${checked})`,
      kind: 'hard',
      at_events_per_hour: (checked * sized.cpu_target) / loadPerEventPerHour,
      detail: `${sized.rows_per_event.read.toFixed(2)} rows read, ${sized.rows_per_event.written.toFixed(2)} written, ${sized.rows_per_event.deleted.toFixed(2)} deleted per event take ${(sized.node_load * 100).toFixed(1)} % of one SSD node here; ${checked} node${checked === 1 ? ' reaches' : 's reach'} the ${(sized.cpu_target * 100).toFixed(0)} % CPU target there (add nodes, or let autoscaling: they are billed by the hour)`,
    });
  }
  monthly = (perMillion * options.eventsPerHour * HOURS_PER_MONTH) / 1e6;

  // The busiest document: per collection, as its class says it grows.
  let hottest = { rate: 0, collection: '', cls: undefined as CollectionClass | undefined };
  for (const c of m.documents.collections) {
    const cls = classes[c.collection];
    if (cls === undefined) throw new Error(`scale: collection ${c.collection} has no class in tools/scale/collections.ts`);
    const rate = cls.kind === 'paced' ? cls.writesPerSecond : c.maxWritesPerDocument / Math.max(1, m.run.processingSeconds);
    if (rate > hottest.rate || hottest.cls === undefined) hottest = { rate, collection: c.collection, cls };
  }
  if (hottest.cls !== undefined) {
    limits.push({
      name: `document writes (${hottest.collection})`,
      kind: 'hard',
      at_events_per_hour: hottest.rate > DOCUMENT_WRITES_PER_SECOND ? 0 : null,
      detail: `${hottest.rate.toFixed(2)} writes/s on its busiest document, not growing with traffic (${hottest.cls.kind}: ${hottest.cls.why})`,
    });
  }
  const opsPerEvent = (ops.reads + ops.writes + ops.deletes) / eps;
  limits.push({
    name: 'Firestore 500/50/5 ramp',
    kind: 'soft',
    at_events_per_hour: opsPerEvent > 0 ? (FIRESTORE_RAMP_START_OPS / opsPerEvent) * 3600 : null,
    detail: `${opsPerEvent.toFixed(1)} operations per event; beyond 500/s a new database ramps up by half every 5 minutes (${rampMinutes(opsPerEvent * eps)} min to reach this rate)`,
  });
  limits.sort((a, b) => (a.at_events_per_hour ?? Infinity) - (b.at_events_per_hour ?? Infinity));
  const reached = (l: Limit) => l.kind === 'hard' && l.at_events_per_hour !== null && l.at_events_per_hour < options.eventsPerHour;
  const firstHard = limits.find((l) => l.kind === 'hard' && l.at_events_per_hour !== null) ?? null;
  return {
    events_per_hour: options.eventsPerHour,
    events_per_s: eps,
    within_limits: !limits.some(reached),
    first_limit: firstHard,
    limits,
    monthly_usd: round(monthly, 2),
    per_million_usd: round(perMillion, 4),
    hottest_document_writes_per_s: round(hottest.rate, 3),
    hottest_document: { collection: hottest.collection, kind: hottest.cls?.kind ?? 'entity', why: hottest.cls?.why ?? 'no document written' },
    firestore_ops_per_s: { reads: round(ops.reads, 1), writes: round(ops.writes, 1), deletes: round(ops.deletes, 1) },
    per_function: perFunction,
    bigtable,
    measured: { events: m.events, asOf: m.asOf, busiest_source: m.stream.busiestSource, processing_seconds: m.run.processingSeconds },
  };
}

/** Minutes the 500/50/5 rule takes to reach `ops` operations a second from 500. */
export function rampMinutes(ops: number): number {
  if (ops <= FIRESTORE_RAMP_START_OPS) return 0;
  return Math.ceil(Math.log(ops / FIRESTORE_RAMP_START_OPS) / Math.log(1.5)) * 5;
}

function round(n: number, digits: number): number {
  const k = 10 ** digits;
  return Math.round(n * k) / k;
}
