/**
 * The local stack's report page: the page `event-recovery replay --html` writes (cli/replay/html,
 * one page builder), drawn from what the stack saw on its topics instead of from a replay.
 */
import type { BusinessEvent } from '../../shared/events/envelope';
import { validateJson } from '../../shared/events/validate';
import type { Finding } from '../../shared/findings';
import { renderReportPage, type PageSummary } from '../../cli/replay/html';
import { PageCollector } from '../../cli/replay/page-data';
import { replayEvent } from '../../cli/replay/stage';
import type { StackRun } from './report';

/** The message bodies of the topics the page draws, as the stack's observer saw them. */
export interface SeenBodies {
  /** events-raw: the time a rejected event claims, where it has one. */
  readonly raw?: readonly string[];
  /** events-unique and events-duplicates: the time of every valid event, duplicates included, and of the sequence numbers around a gap. */
  readonly valid: readonly string[];
  /** events-unique: the accepted events (volume, revenue). */
  readonly unique: readonly string[];
  /** events-corrected: the correction events. */
  readonly corrected: readonly string[];
}

const parse = (text: string): { event: BusinessEvent; timeMs: number } | undefined => {
  const v = validateJson(text, { now: Number.MAX_SAFE_INTEGER, maxFutureMs: 0 });
  return v.ok ? { event: v.event, timeMs: v.timeMs } : undefined;
};

function claimedTime(text: string): { id: string; ms: number } | undefined {
  try {
    const value = JSON.parse(text) as { id?: unknown; time?: unknown };
    const ms = typeof value.time === 'string' ? Date.parse(value.time) : NaN;
    return typeof value.id === 'string' && Number.isFinite(ms) ? { id: value.id, ms } : undefined;
  } catch {
    return undefined;
  }
}

/** The page of one run: `verdict` (the report's first line) under the title. Pure. */
export function renderStackPage(run: StackRun, bodies: SeenBodies, verdict: string): string {
  const page = new PageCollector();
  const timeOf = new Map<string, number>();
  const timeOfSequence = new Map<string, number>();
  let latest: number | undefined;
  for (const text of bodies.valid) {
    const e = parse(text);
    if (!e) continue;
    timeOf.set(e.event.id, e.timeMs);
    if (e.event.sequence !== undefined) timeOfSequence.set(`${e.event.source}#${e.event.sequence}`, e.timeMs);
  }
  let accepted = 0;
  for (const text of bodies.unique) {
    const e = parse(text);
    if (!e) continue;
    accepted++;
    latest = Math.max(latest ?? e.timeMs, e.timeMs);
    page.onAccepted(replayEvent(e.event, e.timeMs, accepted));
  }
  // A rejected event at the time it claims (no later than the latest accepted one: a time in the future is why some are rejected).
  for (const text of bodies.raw ?? []) {
    const claimed = claimedTime(text);
    if (claimed && !timeOf.has(claimed.id)) timeOf.set(claimed.id, latest === undefined ? claimed.ms : Math.min(claimed.ms, latest));
  }
  const corrections = bodies.corrected.map(parse).filter((e) => e !== undefined);
  // A finding is drawn at the time of the event it is about; a gap at the event before it; else
  // (a payload that is not JSON) at the latest event time, as the replay draws it at its watermark.
  for (const f of run.findings) {
    const at = (f.event_id !== undefined ? timeOf.get(f.event_id) : undefined) ?? (f.kind === 'gap' ? timeOfSequence.get(`${f.source}#${BigInt(f.from_sequence) - 1n}`) : undefined) ?? latest;
    if (at !== undefined) page.onWatermark(at);
    page.finding(f);
  }
  for (const c of corrections) page.correction(c.event);
  const data = page.data();
  const sum = (m: ReadonlyMap<number, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  const count = (kind: Finding['kind']) => run.findings.filter((f) => f.kind === kind).length;
  const byKind: Record<string, number> = {};
  for (const f of run.findings) byKind[f.kind] = (byKind[f.kind] ?? 0) + 1;
  const served = run.functions.filter((f) => f.served).map((f) => f.name);
  const summary: PageSummary = {
    lines: run.published,
    accepted,
    invalid: count('invalid'),
    duplicates: count('duplicate'),
    gaps: count('gap'),
    missing_events: run.findings.reduce((n, f) => (f.kind === 'gap' ? n + Number(BigInt(f.to_sequence) - BigInt(f.from_sequence) + 1n) : n), 0),
    chains_broken: count('chain_broken'),
    late: count('late'),
    corrections: corrections.length,
    review: run.findings.filter((f) => f.action === 'review').length,
    // pending (chains still open at the end) is gap-detector's state: the stack does not see it.
    revenue_usd_cents: { recorded: sum(data.revenue.recorded), corrected: sum(data.revenue.corrected) },
    findings_by_kind: byKind,
    checks: {
      'injected faults': verdict,
      functions: `${served.join(', ')} served by the Functions Framework on the emulators`,
      ...(run.triage ? { triage: run.triage.error ? `not read: ${run.triage.error}` : `${run.triage.open.length} open records` } : {}),
    },
    warnings: run.unfinished ?? [],
    watermark: latest === undefined ? null : new Date(latest).toISOString(),
  };
  return renderReportPage({
    title: 'event-recovery local stack',
    subtitle: `the demo stream (seed ${run.demo.seed}) through the functions on the emulators, ${new Date(run.demo.now).toISOString()}`,
    summary,
    data,
    linesNoun: 'messages',
    allFindings: 'the findings topic (npm start -- --json FILE keeps them)',
  });
}
