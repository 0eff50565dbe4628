import type { Finding } from '../../shared/findings';
import { maskText } from '../../shared/mask';
import { TOPICS, topology } from '../../shared/topology';
import type { Demo } from './demo';
import type { Comparison } from './expected';

/** What one run of the stack saw, for the report and for `--json`. */
export interface StackRun {
  readonly projectId: string;
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
    logPath?: string;
    lines?: number;
    errors?: number;
    /** Pushes received, acknowledged and failed (non-2xx), over all its subscriptions. */
    pushes?: number;
    acked?: number;
    failed?: number;
  }>;
  readonly logDir: string;
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

export function renderReport(run: StackRun): string {
  const out: string[] = [];
  const title = 'event-recovery local stack: recovery report';
  out.push(title, '='.repeat(title.length), '');
  out.push(...overview(run), '');
  out.push(...flow(run), '');
  out.push(...findingCounts(run.findings), '');
  if (run.findings.length > 0) out.push(...examples(run.findings), '');
  out.push(...correctionsAndReviews(run), '');
  if (run.triage) out.push(...triageSection(run.triage), '');
  out.push(...faultsVersusFindings(run), '');
  out.push(...logs(run));
  return `${out.join('\n')}\n`;
}

const time = (ms: number) => new Date(ms).toISOString().slice(11, 16);
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const pad = (s: string | number, n: number) => String(s).padEnd(n);
const padLeft = (s: string | number, n: number) => String(s).padStart(n);

function overview(run: StackRun): string[] {
  const served = run.functions.filter((f) => f.served).map((f) => f.name);
  const absent = run.functions.filter((f) => !f.served).map((f) => f.name);
  const lines = [
    `Demo stream   ${run.published} messages published to events-raw, event times ${time(run.demo.startMs)}-${time(run.demo.endMs)} UTC` +
      ` (seed ${run.demo.seed}), ${run.demo.faults.length} faults injected`,
    `Functions     ${served.join(', ')} served by the Functions Framework`,
  ];
  if (absent.length > 0) {
    lines.push(`              ${absent.join(', ')}: not in dist/functions/index.js yet; subscriptions created as pull (messages kept)`);
  }
  lines.push(`Project       ${run.projectId} on the Pub/Sub and Firestore emulators`);
  return lines;
}

/** Every topic of the manifest with its count, who publishes to it and who consumes it. */
function flow(run: StackRun): string[] {
  const c = (topic: string) => run.counts[topic] ?? 0;
  const served = new Set(run.functions.filter((f) => f.served).map((f) => f.name));
  const duplicates = run.findings.filter((f) => f.kind === 'duplicate').length;
  const lines = [
    'Flow per stage',
    `  events-raw ${c('events-raw')} -> events-valid ${c('events-valid')} + events-invalid ${c('events-invalid')}` +
      ` -> events-unique ${c('events-unique')} (${duplicates} duplicates dropped)`,
    '',
    `  ${pad('topic', 28)}${padLeft('messages', 8)}   from -> to`,
  ];
  for (const { name } of topology.topics) {
    const from = name === 'events-raw' ? ['producers'] : topology.functions.filter((f) => f.publishes.includes(name)).map((f) => f.name);
    const to = topology.subscriptions
      .filter((s) => s.topic === name && s.push)
      .map((s) => (served.has(s.push!.function) ? s.push!.function : `(${s.push!.function})`));
    const via = name === 'dead-letters' ? 'every subscription' : from.join(', ') || '-';
    lines.push(`  ${pad(name, 28)}${padLeft(c(name), 8)}   ${via} -> ${[...new Set(to)].join(', ') || '-'}`);
  }
  lines.push('  (a function in parentheses is not served yet: its subscription holds the messages)');
  return lines;
}

function findingCounts(findings: readonly Finding[]): string[] {
  if (findings.length === 0) return ['Findings      none'];
  const counts = new Map<string, number>();
  for (const f of findings) counts.set(`${f.kind}\u0000${f.action}`, (counts.get(`${f.kind}\u0000${f.action}`) ?? 0) + 1);
  const lines = [`Findings      ${findings.length}`, `  ${pad('kind', 24)}${pad('action', 15)}${padLeft('count', 5)}`];
  for (const [key, n] of [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))) {
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

const CORRECTION_EXAMPLES = 3;
const REVIEWS_SHOWN = 10;

/**
 * What the checkers did about incorrect events: the correction events on events-corrected (one
 * per corrected event, carrying every fix of it) against the corrected findings and what the
 * injected faults should have made, a few examples, and every finding held for a person.
 */
function correctionsAndReviews(run: StackRun): string[] {
  const corrected = run.findings.filter((f) => f.action === 'corrected');
  const reviews = run.findings.filter((f) => f.action === 'review');
  const published = run.counts[TOPICS.corrected] ?? 0;
  const events = new Set(corrected.map((f) => f.event_id)).size;
  const served = new Set(run.functions.filter((f) => f.served).map((f) => f.name));
  const expected = new Set(
    run.demo.faults.filter((f) => served.has(f.detectedBy)).flatMap((f) => f.expect.filter((e) => e.match.action === 'corrected').map((e) => e.match.event_id)),
  ).size;
  const agrees = published === events && events === expected;
  const lines = [
    'Corrections and reviews',
    `  ${pad(TOPICS.corrected, 18)} ${plural(published, 'correction event')} for ${plural(events, 'corrected event')}` +
      ` (${expected} expected from the injected faults)${agrees ? '' : '  MISMATCH'}`,
  ];
  // One example of each kind of correction.
  const shown = [...new Set(corrected.map((f) => f.kind))].slice(0, CORRECTION_EXAMPLES).map((kind) => corrected.find((f) => f.kind === kind)!);
  for (const f of shown) lines.push(`    ${pad(f.kind, 24)}${describeFinding(f)}`);
  if (corrected.length > shown.length) lines.push(`    ... and ${plural(corrected.length - shown.length, 'more corrected finding')}`);
  lines.push(`  ${pad('held for review', 18)} ${plural(reviews.length, 'finding')}: a person decides, no correction event is published`);
  for (const f of reviews.slice(0, REVIEWS_SHOWN)) lines.push(`    ${pad(f.kind, 24)}${describeFinding(f)}`);
  if (reviews.length > REVIEWS_SHOWN) lines.push(`    ... and ${reviews.length - REVIEWS_SHOWN} more`);
  return lines;
}

const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;

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
    case 'amount_mismatch':
    case 'fx_mismatch':
    case 'payment_mismatch':
    case 'call_duration_mismatch':
      // `expected` is absent where nothing says what is right (a call Twilio does not know, a missing rate).
      return `${what} ${f.field ?? 'value'}: ${f.expected === undefined ? '' : `expected ${show(f.expected)}, `}recorded ${show(f.actual)}${f.reason ? ` (${f.reason})` : ''}`;
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

const TRIAGE_SHOWN_PER_CLASS = 2;

/** The open triage records by class, each class with its first reasons (compact: a few lines). */
export function triageSection(t: TriageSnapshot): string[] {
  if (t.error) return [`Dead letters and triage: not read (${maskText(t.error)})`];
  if (t.open.length === 0) return ['Dead letters and triage: no open records'];
  const classes = [...new Set(t.open.map((r) => r.class))].sort();
  const lines = [`Dead letters and triage: ${t.open.length} open (${classes.map((c) => `${c} ${t.open.filter((r) => r.class === c).length}`).join(', ')}); event-recovery dlq list`];
  for (const c of classes) {
    const of = t.open.filter((r) => r.class === c);
    for (const r of of.slice(0, TRIAGE_SHOWN_PER_CLASS)) {
      lines.push(maskText(`  ${pad(c, 10)}${pad(r.subscription || 'findings', 28)}${r.event.id ?? '(no id)'}: ${r.reason}`).slice(0, 160));
    }
    if (of.length > TRIAGE_SHOWN_PER_CLASS) lines.push(`  ${pad(c, 10)}... and ${of.length - TRIAGE_SHOWN_PER_CLASS} more`);
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
  const missed = comparison.injectors.filter((o) => o.checked).flatMap((o) => o.missed);
  for (const m of missed.slice(0, 10)) {
    lines.push(`  missed: ${m.detail}: no ${JSON.stringify(m.expected.match)}${m.expected.reasonIncludes ? ` with reason ~ "${m.expected.reasonIncludes}"` : ''}`);
  }
  for (const f of comparison.unexpected.slice(0, 10)) lines.push(`  unexpected: ${f.kind}/${f.action} ${describeFinding(f)}`);
  if (comparison.unexpected.length > 10) lines.push(`  ... and ${comparison.unexpected.length - 10} more unexpected findings`);
  const checked = comparison.injectors.filter((o) => o.checked);
  lines.push(
    comparison.ok
      ? `  Result: all ${checked.reduce((n, o) => n + o.expected, 0)} findings expected from the served functions were found, and nothing else.`
      : `  Result: MISMATCH: ${missed.length} expected findings missing, ${comparison.unexpected.length} unexpected.`,
  );
  if (run.unfinished?.length) {
    lines.push('', 'The pipeline did not go quiet in time. Still outstanding:', ...run.unfinished.map((u) => `  ${u}`));
  }
  return lines;
}

function logs(run: StackRun): string[] {
  const lines = [`Function logs (one JSON entry a line): ${run.logDir}`];
  for (const f of run.functions.filter((x) => x.served)) {
    const pushes = `${f.pushes ?? 0} pushes, ${f.acked ?? 0} acknowledged, ${f.failed ?? 0} failed`;
    lines.push(`  ${pad(`${f.name}.log`, 28)}${padLeft(f.lines ?? 0, 5)} lines, ${f.errors ?? 0} error lines   (${pushes})`);
  }
  const t = run.timings;
  lines.push(
    '',
    `Timing        stack up in ${seconds(t.startupMs)}, demo published and processed in ${seconds(t.processingMs)}, ${seconds(t.totalMs)} in all`,
  );
  return lines;
}

/** What `npm run dev` prints once the report is out: how to publish to the stack and watch it. */
export function devInstructions(
  projectId: string,
  hosts: { pubsub: { host: string }; firestore: { host: string } },
  logDir: string,
  triage?: { url: string; token: string },
): string {
  const ps = hosts.pubsub.host;
  return `
The stack stays up (Ctrl-C stops it all). Publish your own events, one CloudEvent JSON a line:

  export PUBSUB_EMULATOR_HOST=${ps} FIRESTORE_EMULATOR_HOST=${hosts.firestore.host} GOOGLE_CLOUD_PROJECT=${projectId}
  node dist/tools/local/publish.js my-events.ndjson        # or: cat my-events.ndjson | node dist/tools/local/publish.js -

  # one event from the shell:
  echo '{"specversion":"1.0","id":"my-1","source":"//me/shell","type":"discount.issued","time":"'$(date -u +%Y-%m-%dT%H:%M:%SZ)'","data":{"user_id":"u-1","program":"spring","code":"SPRING10"}}' > event.json
  node dist/tools/local/publish.js event.json

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
