/**
 * An instance's billable time under Cloud Run's request-based billing (the default, and how infra/
 * deploys every function): "Cloud Run only charges for the CPU and memory allocated to an instance
 * when ... At least one request is being processed by the instance. Billable instance time begins
 * with the start of the first request and ends at the end of the last request"
 * (https://cloud.google.com/run/pricing, "Billable instance time for services with Request-based
 * billing"). So requests in flight together on one instance are billed once: the union of their
 * intervals, not the sum of their durations. And "Cloud Run charges you only for the resources you
 * use, rounded up to the nearest 100 millisecond" (same page); Cloud Monitoring's
 * `run.googleapis.com/container/billable_instance_time` shows where: "If a single request lasting
 * 30ms was received by a revision in the past minute, it is rounded up to 100ms"
 * (https://cloud.google.com/monitoring/api/metrics_gcp). Each busy period is rounded up here, which
 * is what that example does for a lone request; were Google to round longer stretches instead, this
 * is an upper bound. Pure: intervals in, seconds out.
 */

/** One request as the instance saw it, in ms of one clock. */
export interface Interval {
  readonly start: number;
  readonly end: number;
}

/** The maximal stretches with at least one request in flight, in time order. */
export function busyPeriods(intervals: readonly Interval[]): Interval[] {
  const sorted = [...intervals].sort((a, b) => a.start - b.start || a.end - b.end);
  const periods: Array<{ start: number; end: number }> = [];
  for (const { start, end } of sorted) {
    if (end < start) throw new RangeError(`a request cannot end (${end}) before it starts (${start})`);
    const last = periods[periods.length - 1];
    // A request that starts as the last one ends keeps the instance busy: one period.
    if (last && start <= last.end) last.end = Math.max(last.end, end);
    else periods.push({ start, end });
  }
  return periods;
}

export interface InstanceTime {
  /** The requests' durations added up (what per-request billing would charge). */
  readonly requestSeconds: number;
  /** The union of the requests' intervals: the time the instance had a request in flight. */
  readonly busySeconds: number;
  /** Each busy period rounded up to the billing granularity (at least one granule: a request was served). */
  readonly billedSeconds: number;
  readonly periods: number;
}

/** The billable time of one instance that served these requests, with busy periods rounded up to `granularityMs` (0: not rounded). */
export function instanceTime(intervals: readonly Interval[], granularityMs: number): InstanceTime {
  const periods = busyPeriods(intervals);
  let busyMs = 0;
  let billedMs = 0;
  for (const p of periods) {
    const ms = p.end - p.start;
    busyMs += ms;
    billedMs += granularityMs > 0 ? Math.max(1, Math.ceil(ms / granularityMs)) * granularityMs : ms;
  }
  const requestMs = intervals.reduce((n, i) => n + (i.end - i.start), 0);
  return { requestSeconds: requestMs / 1000, busySeconds: busyMs / 1000, billedSeconds: billedMs / 1000, periods: periods.length };
}
