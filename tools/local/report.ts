import type { Finding } from '../../shared/findings';
import { maskText } from '../../shared/mask';
import { TOPICS, topology } from '../../shared/topology';
import type { Demo } from '../../cli/generate/demo';
import type { Comparison } from './expected';

/** What one run of the stack saw, for the report and for `--json`. */
export interface StackRun {
  readonly projectId: string;
  /** Where the functions kept their hot state (STATE_STORE); absent in runs recorded before it was chosen. */
  readonly stateStore?: 'firestore' | 'bigtable';
  readonly demo: Demo;
  /** Demo messages published to events-raw. */
  readonly published: number;
  /** Messages seen per topic. */
  readonly counts: Readonly<Record<string, number>>;
  readonly findings: readonly Finding[];
  readonly comparison: Comparison;
  readonly functions: ReadonlyArray<{
    name: string;
    served: boolean;
    /** Why a function was not served, in its own words (volume-monitor without BigQuery). */
    reason?: string;
    logPath?: string;
    lines?: number;
    /** Lines that are not a JSON entry (there should be none: shared/structured-stdio). */
    plainLines?: number;
    errors?: number;
    /** Pushes received, acknowledged and failed (non-2xx), over all its subscriptions. */
    pushes?: number;
    acked?: number;
    failed?: number;
    /** Instances that died on their own, and whether a new one took over (tools/local/functions). */
    deaths?: ReadonlyArray<{ at: number; cause: string; uptimeMs: number; restarted: boolean; lastLines: readonly string[] }>;
  }>;
  readonly logDir: string;
  /** The report page (cli/replay/html), when one was written. */
  readonly pagePath?: string;
  readonly timings: { readonly startupMs: number; readonly processingMs: number; readonly totalMs: number };
  /** Set when the pipeline did not go quiet in time: what was still outstanding. */
  readonly unfinished?: readonly string[];
  /** dlq-triage's open records after the run (absent when dlq-triage is not served). */
  readonly triage?: TriageSnapshot;
}

/** What the report shows of dlq-triage: its open records, by class, with their reasons. */
export interface TriageSnapshot {
  readonly open: ReadonlyArray<{ id: string; class: string; subscription: string; reason: string; event: { id?: string; type?: string } }>;
  /** Set when the API could not be read. */
  readonly error?: string;
}

const EXAMPLES_PER_KIND = 3;
/** The widest report line on a terminal that does not say its width. */
export const REPORT_WIDTH = 150;
const REVIEWS_SHOWN = 5;
const TRIAGE_SHOWN_PER_CLASS = 1;

export interface ReportOptions {
  /** Everything: every topic, the findings by kind and action, examples, every fault, every log. */
  readonly verbose?: boolean;
  /** A terminal's width: longer lines are cut with "…". None (a file, a pipe): lines stay whole. */
  readonly width?: number;
}

/**
 * The report of one run, verdict first: one line of expected against found, then one short
 * section per concern (flow, invalid, duplicates, missing, incorrect, reviews, triage, volume),
 * where the logs and the page are, about 40 lines in all; `verbose` adds the detail after it.
 */
export function renderReport(run: StackRun, options: ReportOptions = {}): string {
  const out: string[] = [...verdict(run), ''];
  out.push(...concerns(run), '');
  out.push(...whereToLook(run));
  if (options.verbose) {
    out.push('', ...overview(run), '', ...flow(run), '', ...findingCounts(run.findings), '');
    if (run.findings.length > 0) out.push(...examples(run.findings), '');
    out.push(...faultsVersusFindings(run), '', ...logs(run));
  } else {
    out.push('More: --verbose (every topic and function log, the findings by kind, examples, each injected fault).');
  }
  const width = options.width;
  return `${(width === undefined ? out : out.map((line) => cut(line, width))).join('\n')}\n`;
}

const cut = (line: string, width: number) => (line.length > width ? `${line.slice(0, width - 1)}…` : line);

/** The faults the served functions can see, the findings they should make, and what was found. */
interface Tally {
  readonly faults: number;
  readonly expected: number;
  readonly matched: number;
  readonly notChecked: number;
}

function tally(outcomes: StackRun['comparison']['injectors']): Tally {
  const checked = outcomes.filter((o) => o.checked);
  return {
    faults: checked.reduce((n, o) => n + o.faults, 0),
    expected: checked.reduce((n, o) => n + o.expected, 0),
    matched: checked.reduce((n, o) => n + o.matched, 0),
    notChecked: outcomes.filter((o) => !o.checked).reduce((n, o) => n + o.faults, 0),
  };
}

/**
 * The first line: pass or fail, faults injected against findings expected against found, and
 * why the counts differ where they do (a fault that makes two findings, faults not checked).
 */
export function verdict(run: StackRun): string[] {
  const { comparison } = run;
  const t = tally(comparison.injectors);
  const stream = run.demo.faults.length;
  const upstream = run.demo.upstreamFaults.length;
  const missed = t.expected - t.matched;
  const unexpected = comparison.unexpected.length;
  const pass = comparison.ok && !run.unfinished?.length;
  // Why faults and findings differ in number, in the line itself: a fault that makes more than one finding.
  const several = comparison.injectors
    .filter((o) => o.checked && o.expected !== o.faults)
    .map((o) => `${o.injector.replace(/^[^:]+: /, '')}: ${plural(o.faults, 'fault')} -> ${plural(o.expected, 'finding')}`);
  const parts = [...(upstream > 0 ? [`${stream} in the stream, ${upstream} at the stand-ins`] : []), ...several];
  const injected = `${stream + upstream} faults injected${parts.length > 0 ? ` (${parts.join('; ')})` : ''}`;
  // Pass or fail and the counts first: a long explanation is what gets cut.
  const lines = [
    `${pass ? 'PASS' : 'FAIL'}  ${plural(t.expected, 'finding')} expected, ${t.matched} found` +
      `${missed > 0 ? `, ${missed} MISSED` : ''}${unexpected > 0 ? `, ${unexpected} UNEXPECTED` : ', nothing else'}` +
      `${run.unfinished?.length ? ', the pipeline did not go quiet in time' : ''}; ${injected}`,
  ];
  if (t.notChecked > 0) {
    const reasons = [...new Set(comparison.injectors.filter((o) => !o.checked).map((o) => o.notChecked ?? `${o.detectedBy} is not served`))];
    lines.push(`      of which ${plural(t.notChecked, 'fault')} not checked, no finding expected of them: ${reasons.join('; ')}`);
  }
  return lines;
}

/** What each concern expected and found: the injectors grouped by what their name starts with. */
function byConcern(run: StackRun, concern: string): { expected: number; found: number; checked: boolean } {
  const of = run.comparison.injectors.filter((o) => o.injector.startsWith(`${concern}:`));
  const t = tally(of);
  return { expected: t.expected, found: t.matched, checked: of.some((o) => o.checked) };
}

const countsOf = (values: readonly string[]) => {
  const m = new Map<string, number>();
  for (const v of values) m.set(v, (m.get(v) ?? 0) + 1);
  return [...m].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
};
const listCounts = (values: readonly string[]) => countsOf(values).map(([k, n]) => `${k} ${n}`).join(', ');
const expectedNote = (e: { expected: number; found: number; checked: boolean }, found: number) =>
  !e.checked ? '' : e.found === e.expected && found === e.expected ? ` (${e.expected} expected)` : ` (${e.expected} expected, ${e.found} of them found)  MISMATCH`;

function concerns(run: StackRun): string[] {
  const c = (topic: string) => run.counts[topic] ?? 0;
  const of = (kind: string) => run.findings.filter((f) => f.kind === kind);
  const served = new Set(run.functions.filter((f) => f.served).map((f) => f.name));
  const duplicates = run.findings.filter((f): f is Extract<Finding, { kind: 'duplicate' }> => f.kind === 'duplicate');
  const missing = run.findings.filter((f) => f.kind === 'gap' || f.kind === 'chain_broken' || f.kind === 'late');
  const lines = [
    `Flow          ${c(TOPICS.raw)} published -> ${c(TOPICS.invalid)} invalid + ${c(TOPICS.duplicates)} duplicate + ${c(TOPICS.unique)} unique -> ` +
      `${plural(c(TOPICS.corrected), 'correction')}; ${plural(run.findings.length, 'finding')} published`,
    `              ticks: ${c(TOPICS.ticks)} from the local stack (Cloud Scheduler in GCP) -> ${tickConsumers(served)}`,
    `Invalid       ${of('invalid').length} rejected to ${TOPICS.invalid}${expectedNote(byConcern(run, 'invalid'), of('invalid').length)}`,
    `Duplicates    ${duplicates.length} dropped${expectedNote(byConcern(run, 'duplicate'), duplicates.length)}` +
      (duplicates.length > 0 ? `: ${listCounts(duplicates.map((f) => `same ${f.basis.replace('_', ' ')}`))}` : ''),
    `Missing       ${missing.length === 0 ? 'none' : listCounts(missing.map((f) => ({ gap: 'gaps', chain_broken: 'broken chains', late: 'late arrivals' })[f.kind as 'gap'] ?? f.kind))}` +
      expectedNote(byConcern(run, 'missing'), missing.length),
    ...incorrect(run),
    deadLetters(run),
    ...reviews(run),
  ];
  if (run.triage) lines.push(...triageSection(run.triage));
  lines.push(volume(run, served));
  if (run.unfinished?.length) lines.push('Unfinished    the pipeline did not go quiet in time; still outstanding:', ...run.unfinished.slice(0, 5).map((u) => `  ${u}`));
  lines.push(...mismatches(run));
  return lines;
}

function tickConsumers(served: ReadonlySet<string>): string {
  const to = topology.subscriptions.filter((s) => s.topic === TOPICS.ticks && s.push).map((s) => s.push!.function);
  return [...new Set(to)].map((f) => (served.has(f) ? f : `(${f}, not served)`)).join(', ');
}

/**
 * What the checkers did about incorrect events: the correction events on events-corrected (one
 * per corrected event, carrying every fix of it) against the corrected findings and what the
 * injected faults should have made.
 */
function incorrect(run: StackRun): string[] {
  const corrected = run.findings.filter((f) => f.action === 'corrected');
  const held = run.findings.filter((f) => f.action === 'review');
  const published = run.counts[TOPICS.corrected] ?? 0;
  const events = new Set(corrected.map((f) => f.event_id)).size;
  const served = new Set(run.functions.filter((f) => f.served).map((f) => f.name));
  const expected = new Set(
    [...run.demo.faults, ...run.demo.upstreamFaults]
      .filter((f) => served.has(f.detectedBy))
      .flatMap((f) => f.expect.filter((e) => e.match.action === 'corrected').map((e) => e.match.event_id)),
  ).size;
  const agrees = published === events && events === expected;
  const e = byConcern(run, 'incorrect');
  return [
    `Incorrect     ${corrected.length + held.length} found${expectedNote(e, corrected.length + held.length)}: ${corrected.length} corrected, ${held.length} held for review` +
      (corrected.length > 0 ? ` (corrected: ${listCounts(corrected.map((f) => f.kind))})` : ''),
    `              ${TOPICS.corrected}: ${plural(published, 'correction event')} for ${plural(events, 'corrected event')} (${expected} expected from the injected faults)${agrees ? '' : '  MISMATCH'}`,
  ];
}

/** The messages a function failed until their subscription's attempts ran out, by triage class. */
function deadLetters(run: StackRun): string {
  const dead = run.findings.filter((f): f is Extract<Finding, { kind: 'dead_letter' }> => f.kind === 'dead_letter');
  const e = byConcern(run, 'dead letter');
  return (
    `Dead letters  ${dead.length === 0 ? 'none' : `${dead.length} after ${MAX_ATTEMPTS} attempts each`}${expectedNote(e, dead.length)}` +
    (dead.length > 0 ? `: ${countsOf(dead.map((f) => `${f.class} from ${f.subscription}`)).map(([k, n]) => (n === 1 ? k : `${k} (${n})`)).join(', ')}` : '')
  );
}

const MAX_ATTEMPTS = topology.defaults.maxDeliveryAttempts;
const shortId = (id: string | undefined) => (id === undefined ? '(no id)' : id.length > 12 ? `${id.slice(0, 8)}…` : id);

/** Every finding held for a person (a few, then how to list them all). */
function reviews(run: StackRun): string[] {
  const held = run.findings.filter((f) => f.action === 'review');
  if (held.length === 0) return ['Reviews       none held for a person'];
  const lines = [`Reviews       ${plural(held.length, 'finding')} held for a person, no correction published: event-recovery dlq list --class review`];
  // The reason says what a person decides on; the event by the start of its id (dlq list shows it whole).
  for (const f of held.slice(0, REVIEWS_SHOWN)) lines.push(`  ${pad(reviewLabel(f), 23)}${pad(shortId(f.event_id), 11)}${maskText(f.reason ?? describeFinding(f))}`);
  if (held.length > REVIEWS_SHOWN) lines.push(`  ... and ${held.length - REVIEWS_SHOWN} more: event-recovery dlq list --class review`);
  return lines;
}

/** A finding's kind as a person reads it: a call of 0 s that Twilio confirms is not a mismatch of 0 vs 0. */
function reviewLabel(f: Finding): string {
  if ('expected' in f && f.expected !== undefined && sameValue(f.expected, f.actual)) return f.kind === 'call_duration_mismatch' && f.actual === 0 ? 'call of 0 s' : `${f.kind.replace(/_mismatch$/, '')} (agrees)`;
  return f.kind;
}

const sameValue = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function volume(run: StackRun, served: ReadonlySet<string>): string {
  const anomalies = run.findings.filter((f) => f.kind === 'volume_anomaly');
  if (!served.has('volume-monitor')) {
    const why = run.functions.find((f) => f.name === 'volume-monitor')?.reason;
    return `Volume        volume-monitor not served${why ? ` (${why})` : ''}: no volume check in this run; event-recovery replay checks volume`;
  }
  const e = byConcern(run, 'volume');
  // Each hour in a few words (the reason says it at length, on the page and in --verbose).
  const hour = (f: Finding) => (f.kind === 'volume_anomaly' ? `${f.series} in the hour from ${f.hour}: ${f.actual} (expected ${f.expected}, range ${f.lower_bound}..${f.upper_bound})` : '');
  return `Volume        ${anomalies.length === 0 ? 'no anomalous hour' : `${plural(anomalies.length, 'anomalous hour')}: ${anomalies.map(hour).join('; ')}`}${expectedNote(e, anomalies.length)}`;
}

/** Every expected finding that did not come and every finding that was not expected (at most ten of each). */
function mismatches(run: StackRun): string[] {
  const { comparison } = run;
  const missed = comparison.injectors.filter((o) => o.checked).flatMap((o) => o.missed);
  const lines: string[] = [];
  for (const m of missed.slice(0, 10)) {
    lines.push(`  MISSED      ${m.detail}: no ${JSON.stringify(m.expected.match)}${m.expected.reasonIncludes ? ` with reason ~ "${m.expected.reasonIncludes}"` : ''}`);
  }
  if (missed.length > 10) lines.push(`  ... and ${missed.length - 10} more missed (--json)`);
  for (const f of comparison.unexpected.slice(0, 10)) lines.push(`  UNEXPECTED  ${f.kind}/${f.action} ${describeFinding(f)}`);
  if (comparison.unexpected.length > 10) lines.push(`  ... and ${comparison.unexpected.length - 10} more unexpected findings`);
  return lines;
}

/** Where the rest is: the function logs, the page, the timing. */
function whereToLook(run: StackRun): string[] {
  const fns = run.functions.filter((f) => f.served);
  const lines = fns.reduce((n, f) => n + (f.lines ?? 0), 0);
  const plain = fns.reduce((n, f) => n + (f.plainLines ?? 0), 0);
  const errors = fns.reduce((n, f) => n + (f.errors ?? 0), 0);
  const failed = fns.reduce((n, f) => n + (f.failed ?? 0), 0);
  const deaths = fns.reduce((n, f) => n + (f.deaths?.length ?? 0), 0);
  const dead = run.findings.filter((f) => f.kind === 'dead_letter').length;
  const t = run.timings;
  return [
    `Logs          ${run.logDir}: ${plural(lines, 'line')} from ${fns.length} functions, ${plain === 0 ? 'all JSON entries' : `${plain} NOT JSON`}; ` +
      `${plural(errors, 'error')}, ${plural(failed, 'failed push', 'failed pushes')}${failedNote(failed, dead)}${deaths > 0 ? `, ${plural(deaths, 'instance')} died` : ''}`,
    ...(run.pagePath ? [`Page          ${run.pagePath}  (open it in a browser: the charts, the findings to read first)`] : []),
    `Time          stack up in ${seconds(t.startupMs)}, demo published and processed in ${seconds(t.processingMs)}, ${seconds(t.totalMs)} in all`,
  ];
}

/** How many of the failed pushes the dead letters explain: each failed every attempt. */
function failedNote(failed: number, dead: number): string {
  if (dead === 0 || failed === 0) return '';
  const theirs = dead * MAX_ATTEMPTS;
  return failed === theirs ? ` (${MAX_ATTEMPTS} attempts x ${plural(dead, 'dead letter')})` : ` (${theirs} of them: ${MAX_ATTEMPTS} attempts x ${plural(dead, 'dead letter')})`;
}

const time = (ms: number) => new Date(ms).toISOString().slice(11, 16);
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const pad = (s: string | number, n: number) => String(s).padEnd(n);
const padLeft = (s: string | number, n: number) => String(s).padStart(n);

function overview(run: StackRun): string[] {
  const served = run.functions.filter((f) => f.served).map((f) => f.name);
  const absent = run.functions.filter((f) => !f.served);
  const lines = [
    `Demo stream   ${run.published} messages published to events-raw, event times ${time(run.demo.startMs)}-${time(run.demo.endMs)} UTC` +
      ` (seed ${run.demo.seed}), ${run.demo.faults.length} faults injected in the stream, ${run.demo.upstreamFaults.length} at the stand-ins`,
    `Functions     ${served.join(', ')} served by the Functions Framework`,
  ];
  if (absent.length > 0) {
    for (const f of absent) lines.push(`              ${f.name}: ${f.reason ?? 'not in dist/functions/index.js yet'}; subscriptions created as pull (messages kept)`);
  }
  lines.push(`Project       ${run.projectId} on the Pub/Sub, Firestore${run.stateStore === 'bigtable' ? ' and Bigtable' : ''} emulators${run.stateStore ? ` (state store: ${run.stateStore})` : ''}`);
  return lines;
}

/** Every topic of the manifest with its count, who publishes to it and who consumes it. */
function flow(run: StackRun): string[] {
  const c = (topic: string) => run.counts[topic] ?? 0;
  const served = new Set(run.functions.filter((f) => f.served).map((f) => f.name));
  const lines = ['Flow per topic', `  ${pad('topic', 28)}${padLeft('messages', 8)}   from -> to`];
  for (const { name } of topology.topics) {
    // dlq-triage publishes its dead_letter findings; to any other topic only when an operator replays a record.
    const from =
      name === TOPICS.raw
        ? ['producers']
        : name === TOPICS.ticks
          ? ['the local stack (Cloud Scheduler in GCP)']
          : topology.functions.filter((f) => (f.name !== 'dlq-triage' || name === TOPICS.findings) && f.publishes.includes(name)).map((f) => f.name);
    const to = topology.subscriptions
      .filter((s) => s.topic === name && s.push)
      .map((s) => (served.has(s.push!.function) ? s.push!.function : `(${s.push!.function})`));
    const via = name === 'dead-letters' ? 'every subscription' : from.join(', ') || '-';
    lines.push(`  ${pad(name, 28)}${padLeft(c(name), 8)}   ${via} -> ${[...new Set(to)].join(', ') || '-'}`);
  }
  lines.push('  (a function in parentheses is not served: its subscription holds the messages; dlq-triage publishes elsewhere only replays)');
  return lines;
}

function findingCounts(findings: readonly Finding[]): string[] {
  if (findings.length === 0) return ['Findings      none'];
  const lines = [`Findings      ${findings.length}`, `  ${pad('kind', 24)}${pad('action', 15)}${padLeft('count', 5)}`];
  for (const [key, n] of countsOf(findings.map((f) => `${f.kind}\u0000${f.action}`))) {
    const [kind, action] = key.split('\u0000');
    lines.push(`  ${pad(kind!, 24)}${pad(action!, 15)}${padLeft(n, 5)}`);
  }
  return lines;
}

function examples(findings: readonly Finding[]): string[] {
  const lines = ['Examples (personal data masked)'];
  const kinds = [...new Set(findings.map((f) => f.kind))];
  const width = Math.max(28, ...findings.map((f) => `${f.kind}/${f.action}`.length));
  for (const kind of kinds) {
    const some = findings.filter((f) => f.kind === kind).slice(0, EXAMPLES_PER_KIND);
    for (const f of some) lines.push(`  ${pad(`${kind}/${f.action}`, width)} ${describeFinding(f)}`);
  }
  return lines;
}

const plural = (n: number, noun: string, nouns = `${noun}s`) => `${n} ${n === 1 ? noun : nouns}`;

const show = (value: unknown) => (value === undefined ? '-' : maskText(JSON.stringify(value)));

/** One finding as a sentence a person reads, personal data masked. */
export function describeFinding(raw: Finding): string {
  const f: Finding = {
    ...raw,
    ...(raw.reason !== undefined ? { reason: maskText(raw.reason) } : {}),
  };
  const what = f.event_id ? `${f.event_id}${f.type ? ` (${f.type}${f.source ? ` from ${f.source}` : ''})` : ''}` : 'a message with no readable id';
  switch (f.kind) {
    case 'invalid':
      return `${what}: ${f.reason ?? 'rejected'}`;
    case 'duplicate':
      return `${what}: same ${f.basis === 'business_key' ? 'business key' : (f.basis ?? '?')} as ${f.duplicate_of ?? '?'}`;
    case 'gap':
      return `${f.source ?? '?'} is missing sequence ${f.from_sequence === f.to_sequence ? f.from_sequence : `${f.from_sequence}-${f.to_sequence}`}`;
    case 'late':
      if (f.closes === 'chain_broken') return `${what} arrived after the chain of ${f.upstream_id ?? '?'} was reported broken, and closes it`;
      return `${what} arrived after ${f.closes === 'gap' ? 'its gap' : 'it'} was reported`;
    case 'chain_broken':
      return `${what} was never followed by ${f.expected_type ?? '?'}`;
    case 'sequence_jump':
      return `${what}: ${f.reason ?? `sequence ${f.to_sequence} far from ${f.from_sequence}`}`;
    case 'amount_mismatch':
    case 'fx_mismatch':
    case 'payment_mismatch':
    case 'call_duration_mismatch':
      // `expected` is absent where nothing says what is right (a call Twilio does not know, a missing rate).
      // Where it agrees with what was recorded (a call of 0 s Twilio confirms) there is no mismatch to tell, only why it is held.
      if (f.expected !== undefined && sameValue(f.expected, f.actual)) return `${what}: ${f.reason ?? 'held'}; ${f.field ?? 'value'} ${show(f.actual)} as recorded`;
      return `${what} ${f.field ?? 'value'}: ${f.expected === undefined ? '' : `expected ${show(f.expected)}, `}recorded ${show(f.actual)}${f.reason ? ` (${f.reason})` : ''}`;
    case 'crm_mismatch':
      // Here `expected` is the event's value and `actual` the CRM's (DESIGN §3): the CRM is wrong.
      if (f.field === 'record') return `${what}: ${f.reason ?? 'no such CRM record'}`;
      return `${what} ${f.field}: the event says ${show(f.expected)}, the CRM holds ${show(f.actual)}${f.reason ? ` (${f.reason})` : ''}`;
    case 'volume_anomaly':
      return f.reason ?? show(f);
    case 'dead_letter':
      return `${what} dead-lettered from ${f.subscription} (${f.class}): ${f.reason ?? 'no reason recorded'}`;
    default: {
      const never: never = f;
      return JSON.stringify(never);
    }
  }
}

/** The open triage records by class, each class with its first reasons (compact: a few lines). */
export function triageSection(t: TriageSnapshot): string[] {
  if (t.error) return [`Triage        not read (${maskText(t.error)})`];
  if (t.open.length === 0) return ['Triage        no open records'];
  const classes = countsOf(t.open.map((r) => r.class)).map(([c]) => c);
  const lines = [`Triage        ${t.open.length} open records: ${listCounts(t.open.map((r) => r.class))}; event-recovery dlq list --state open`];
  for (const c of classes) {
    const of = t.open.filter((r) => r.class === c);
    for (const r of of.slice(0, TRIAGE_SHOWN_PER_CLASS)) {
      const more = of.length > TRIAGE_SHOWN_PER_CLASS ? ` (+${of.length - TRIAGE_SHOWN_PER_CLASS} more)` : '';
      lines.push(maskText(`  ${pad(c, 10)}${pad(r.subscription || 'findings', 28)}${pad(shortId(r.event.id), 11)}${r.reason}${more}`));
    }
  }
  return lines;
}

function faultsVersusFindings(run: StackRun): string[] {
  const { comparison } = run;
  const width = Math.max(36, ...comparison.injectors.map((o) => o.injector.length + 2));
  const lines = ['Injected faults vs findings', `  ${pad('fault', width)}${pad('detected by', 23)}${padLeft('expected', 8)}${padLeft('found', 7)}`];
  for (const o of comparison.injectors) {
    const status = !o.checked ? `not checked: ${o.notChecked ?? `${o.detectedBy} is not served`}` : o.missed.length === 0 ? 'ok' : `MISSED ${o.missed.length}`;
    lines.push(`  ${pad(o.injector, width)}${pad(o.detectedBy, 23)}${padLeft(o.expected, 8)}${padLeft(o.checked ? o.matched : '-', 7)}  ${status}`);
  }
  if (run.unfinished?.length) lines.push('', 'The pipeline did not go quiet in time. Still outstanding:', ...run.unfinished.map((u) => `  ${u}`));
  return lines;
}

function logs(run: StackRun): string[] {
  const lines = [`Function logs (one JSON entry a line): ${run.logDir}`];
  for (const f of run.functions.filter((x) => x.served)) {
    const pushes = `${f.pushes ?? 0} pushes, ${f.acked ?? 0} acknowledged, ${f.failed ?? 0} failed`;
    lines.push(`  ${pad(`${f.name}.log`, 28)}${padLeft(f.lines ?? 0, 5)} lines, ${f.errors ?? 0} error entries   (${pushes})`);
    for (const d of f.deaths ?? []) {
      lines.push(`    ${time(d.at)} instance died (${d.cause}) after ${seconds(d.uptimeMs)}: ${d.restarted ? 'restarted, its messages redelivered' : 'NOT restarted'}; last line: ${maskText(d.lastLines.at(-1) ?? '(none)')}`);
    }
  }
  return lines;
}

/** What `npm run dev` prints once the report is out: how to publish to the stack and watch it. */
export function devInstructions(
  projectId: string,
  hosts: { pubsub: { host: string }; firestore: { host: string }; bigtable?: { host: string } },
  logDir: string,
  triage?: { url: string; token: string },
): string {
  const ps = hosts.pubsub.host;
  return `
The stack stays up (Ctrl-C stops it all). Publish your own events, one CloudEvent JSON a line:

  export PUBSUB_EMULATOR_HOST=${ps} FIRESTORE_EMULATOR_HOST=${hosts.firestore.host}${hosts.bigtable ? ` BIGTABLE_EMULATOR_HOST=${hosts.bigtable.host}` : ''} GOOGLE_CLOUD_PROJECT=${projectId}
  node dist/cli/event-recovery.js publish my-events.ndjson        # or: cat my-events.ndjson | node dist/cli/event-recovery.js publish -

  # one event from the shell:
  echo '{"specversion":"1.0","id":"my-1","source":"//me/shell","type":"discount.issued","time":"'$(date -u +%Y-%m-%dT%H:%M:%SZ)'","data":{"user_id":"u-1","program":"spring","code":"SPRING10"}}' > event.json
  node dist/cli/event-recovery.js publish event.json

  # the same with the Google Cloud CLI (any token will do for the emulator):
  export CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB=http://${ps}/ CLOUDSDK_AUTH_ACCESS_TOKEN=emulator
  gcloud pubsub topics publish ${TOPICS.raw} --project=${projectId} --message="$(cat event.json)"

  # or with curl (the emulator's REST API; data is base64):
  curl -s -X POST http://${ps}/v1/projects/${projectId}/topics/${TOPICS.raw}:publish -H 'content-type: application/json' \\
    -d "{\\"messages\\":[{\\"data\\":\\"$(base64 -w0 < event.json)\\"}]}"

Watch: each new finding is printed below as it arrives. To pull them yourself (after the export above):
  gcloud pubsub subscriptions create my-findings --topic=${TOPICS.findings} --project=${projectId}
  gcloud pubsub subscriptions pull my-findings --auto-ack --limit=20 --project=${projectId} --format='value(message.data)'
Function logs: tail -f ${logDir}/*.log
${
  triage
    ? `
Dead letters, rejected events and reviews (dlq-triage's API; --json for scripts):
  export DLQ_API_URL=${triage.url} DLQ_API_TOKEN=${triage.token}
  node dist/cli/event-recovery.js dlq list --state open            # --class invalid|transient|poison|review
  node dist/cli/event-recovery.js dlq show ID
  node dist/cli/event-recovery.js dlq fix ID                       # opens $EDITOR; or --patch fix.json (JSON merge patch)
  node dist/cli/event-recovery.js dlq replay ID                    # or: dlq replay --all --class transient --dry-run
  node dist/cli/event-recovery.js dlq discard ID --reason "why"
  node dist/cli/event-recovery.js dlq stats; node dist/cli/event-recovery.js dlq audit
`
    : ''
}
`;
}
