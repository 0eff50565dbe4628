import { buildDemo, type InjectedFault } from '../../cli/generate/demo';
import { compareWithFaults } from '../../tools/local/expected';
import { isErrorLine, said } from '../../tools/local/functions';
import { filterMatches } from '../../tools/local/filter';
import { backoffMs, localBackoff } from '../../tools/local/push-gateway';
import { describeFinding, devInstructions, renderReport, triageSection, type StackRun } from '../../tools/local/report';
import type { Finding } from '../../shared/findings';
import { maskText } from '../../shared/mask';
import { resolveSubscriptions, topology } from '../../shared/topology';

const fault = (injector: string, detectedBy: InjectedFault['detectedBy'], ...expect: InjectedFault['expect']): InjectedFault => ({ injector, detectedBy, detail: injector, expect });

describe('compareWithFaults', () => {
  it('lets the precise expectation claim its finding before a loose one takes it', () => {
    const faults = [
      fault('invalid: bad JSON', 'validator', { match: { kind: 'invalid' }, reasonIncludes: 'not valid JSON' }),
      fault('invalid: unknown type', 'validator', { match: { kind: 'invalid', event_id: 'e1' }, reasonIncludes: 'type' }),
    ];
    const findings = [
      { kind: 'invalid' as const, action: 'dropped' as const, event_id: 'e1', reason: 'type: must be one of …; not valid JSON too' },
      { kind: 'invalid' as const, action: 'dropped' as const, reason: 'is not valid JSON (Unexpected end)' },
    ];
    const c = compareWithFaults(faults, findings, new Set(['validator']));
    expect(c.ok).toBe(true);
    expect(c.injectors.map((o) => [o.injector, o.matched])).toEqual([
      ['invalid: bad JSON', 1],
      ['invalid: unknown type', 1],
    ]);
  });

  it('does not check a fault whose detector runs without the lookup it needs', () => {
    const faults = [
      { ...fault('incorrect: payment failed', 'revenue-checker', { match: { kind: 'payment_mismatch', event_id: 's1' } }), needs: ['stripe' as const] },
      { ...fault('incorrect: inverted rate', 'revenue-checker', { match: { kind: 'fx_mismatch', event_id: 's2' } }), needs: ['rates' as const] },
    ];
    const found = { kind: 'fx_mismatch' as const, action: 'corrected' as const, event_id: 's2', field: 'amount_usd' };
    const c = compareWithFaults(faults, [found], new Set(['revenue-checker']), new Set(['rates']));
    expect(c.ok).toBe(true);
    expect(c.injectors.map((o) => [o.injector, o.checked, o.notChecked])).toEqual([
      ['incorrect: payment failed', false, 'revenue-checker runs without stripe'],
      ['incorrect: inverted rate', true, undefined],
    ]);
    // Without a set of lookups every one is taken as there (the local stack serves a stand-in for each).
    expect(compareWithFaults(faults, [found], new Set(['revenue-checker'])).injectors.every((o) => o.checked)).toBe(true);
  });

  it('reports what was missed and what nothing explains, and does not check what no running function detects', () => {
    const faults = [
      fault('duplicate: same id', 'deduplicator', { match: { kind: 'duplicate', event_id: 'a', basis: 'id' } }),
      fault('missing: late arrival', 'gap-detector', { match: { kind: 'late', event_id: 'b' } }),
    ];
    const stray = { kind: 'duplicate' as const, action: 'dropped' as const, event_id: 'z', duplicate_of: 'y', basis: 'content' as const };
    const c = compareWithFaults(faults, [stray], new Set(['validator', 'deduplicator']));
    expect(c.ok).toBe(false);
    expect(c.unexpected).toEqual([stray]);
    expect(c.injectors.find((o) => o.injector === 'duplicate: same id')).toMatchObject({ checked: true, matched: 0, missed: [{ detail: 'duplicate: same id' }] });
    expect(c.injectors.find((o) => o.injector === 'missing: late arrival')).toMatchObject({ checked: false });
  });
});

describe('the report text', () => {
  it('masks emails and phone numbers but keeps ids and timestamps whole', () => {
    expect(maskText('ada.lovelace@example.com called +14155550123 at 2026-03-01T10:00:00.123Z about 0896563f-5589-40a4-b1a6-4f17b75555a3')).toBe(
      'a***@example.com called +*********23 at 2026-03-01T10:00:00.123Z about 0896563f-5589-40a4-b1a6-4f17b75555a3',
    );
  });

  it('says what each finding is about in one line', () => {
    expect(describeFinding({ kind: 'gap', action: 'reported', source: '//scanner/ios', from_sequence: 7, to_sequence: 9 })).toBe('//scanner/ios is missing sequence 7-9');
    expect(describeFinding({ kind: 'late', action: 'reported', event_id: 'n7', type: 'lead.tagged', source: '//hub', closes: 'gap' })).toBe('n7 (lead.tagged from //hub) arrived after its gap was reported');
    expect(describeFinding({ kind: 'late', action: 'reported', event_id: 'l1', type: 'lead.created', source: '//crm', closes: 'chain_broken', upstream_id: 'c1' })).toBe(
      'l1 (lead.created from //crm) arrived after the chain of c1 was reported broken, and closes it',
    );
    expect(describeFinding({ kind: 'duplicate', action: 'dropped', event_id: 'b', type: 'sale.recorded', source: '//shop', duplicate_of: 'a', basis: 'business_key' })).toBe(
      'b (sale.recorded from //shop): same business key as a',
    );
    expect(describeFinding({ kind: 'invalid', action: 'dropped', reason: 'data.contact.email: bad ada@example.com' })).toBe('a message with no readable id: data.contact.email: bad a***@example.com');
    expect(describeFinding({ kind: 'call_duration_mismatch', action: 'review', event_id: 'c', field: 'duration_seconds', actual: 0, reason: 'a completed call of 0 s' })).toBe(
      'c duration_seconds: recorded 0 (a completed call of 0 s)',
    );
    // A call of 0 s that Twilio confirms is no "mismatch of 0 vs 0": it says why it is held.
    const zero = describeFinding({ kind: 'call_duration_mismatch', action: 'review', event_id: 'c', field: 'duration_seconds', expected: 0, actual: 0, reason: 'Twilio reports a completed call of 0 s' });
    expect(zero).toBe('c: Twilio reports a completed call of 0 s; duration_seconds 0 as recorded');
    expect(zero).not.toMatch(/expected 0/);
    expect(describeFinding({ kind: 'amount_mismatch', action: 'corrected', event_id: 's', field: 'amount', expected: 2000, actual: 1800 })).toBe('s amount: expected 2000, recorded 1800');
  });
});

describe('the report', () => {
  const demo = buildDemo({ now: Date.parse('2026-03-01T12:00:00Z') });
  const faults = [...demo.faults, ...demo.upstreamFaults];
  // What the functions find when they find exactly what the demo's manifest expects (call-duration-checker,
  // as it does, says what Twilio reports of a call of 0 s: `expected` 0, the same as recorded).
  // A volume anomaly carries the band it was judged by.
  const findings = faults.flatMap((f) =>
    f.expect.map(
      (e) =>
        ({
          action: 'reported',
          ...e.match,
          ...(e.match.field === 'duration_seconds' && e.match.actual === 0 ? { expected: 0 } : {}),
          ...(e.match.kind === 'volume_anomaly' ? { expected: 8, actual: 48, lower_bound: 0, upper_bound: 27.5 } : {}),
          ...(e.reasonIncludes ? { reason: e.reasonIncludes } : {}),
        }) as Finding,
    ),
  );
  // Every function of the manifest, volume-monitor too (its embedded detector over the stack's archive).
  const served = topology.functions.map((f) => f.name);
  const open = [
    ...findings.filter((f) => f.kind === 'invalid').map((f, i) => ({ id: `i${i}`, class: 'invalid', subscription: 'validator-events-raw', reason: f.reason ?? '', event: { id: f.event_id } })),
    ...findings.filter((f) => f.action === 'review').map((f, i) => ({ id: `r${i}`, class: 'review', subscription: '', reason: f.reason ?? '', event: { id: f.event_id } })),
    ...findings.filter((f) => f.kind === 'dead_letter').map((f, i) => ({ id: `d${i}`, class: f.class, subscription: f.subscription, reason: `${f.reason} (5 recorded attempts)`, event: { id: f.event_id } })),
  ];
  const run = (corrections: number, found: readonly Finding[] = findings): StackRun => ({
    projectId: 'p',
    demo,
    published: demo.messages.length,
    counts: { 'events-raw': demo.messages.length, 'events-corrected': corrections, ticks: 1 },
    findings: found,
    comparison: compareWithFaults(faults, found, new Set(served)),
    functions: topology.functions.map(({ name }) => ({ name, served: served.includes(name), lines: 3, plainLines: 0, errors: 0 })),
    logDir: '/tmp/run/logs',
    pagePath: '/tmp/run/report.html',
    timings: { startupMs: 1000, processingMs: 2000, totalMs: 3000 },
    triage: { open },
  });
  const corrected = new Set(findings.filter((f) => f.action === 'corrected').map((f) => f.event_id)).size;
  const expected = faults.filter((f) => served.includes(f.detectedBy)).reduce((n, f) => n + f.expect.length, 0);

  it('cuts long report lines with "…" only for a terminal of a given width, never in a file (issue 20.11)', () => {
    const long = run(corrected);
    const wide = renderReport(long, { verbose: true });
    expect(wide).not.toMatch(/…$/m);
    const cut = renderReport(long, { verbose: true, width: 60 });
    expect(cut.split('\n').every((l) => l.length <= 60)).toBe(true);
    expect(cut).toMatch(/…$/m);
  });

  it('leads with one verdict line, expected against found, and explains in it why faults and findings differ in number', () => {
    const lines = renderReport(run(corrected)).split('\n');
    const several = faults.filter((f) => f.expect.length !== 1);
    expect(several.map((f) => f.injector)).toEqual(['missing: late arrival']);
    expect(lines[0]).toBe(
      `PASS  ${expected} findings expected, ${expected} found, nothing else; ${faults.length} faults injected ` +
        `(${demo.faults.length} in the stream, ${demo.upstreamFaults.length} at the stand-ins; late arrival: 1 fault -> 2 findings)`,
    );
    // The numbers add up: one finding a fault, but the late arrival's two.
    expect(faults.length - several.length + several.reduce((n, f) => n + f.expect.length, 0)).toBe(expected);
    expect(lines[1]).toBe('');
    const without = served.filter((name) => name !== 'call-duration-checker');
    const partial = renderReport({ ...run(corrected), comparison: compareWithFaults(faults, findings, new Set(without)) }).split('\n');
    const unchecked = faults.filter((f) => f.detectedBy === 'call-duration-checker');
    expect(partial[0]).toMatch(new RegExp(`^PASS {2}${expected - unchecked.reduce((n, f) => n + f.expect.length, 0)} findings expected, `));
    expect(partial[1]).toBe(`      of which ${unchecked.length} faults not checked, no finding expected of them: call-duration-checker is not served`);
  });

  it('fits in about 40 lines by default, one short section per concern, the rest behind --verbose', () => {
    const text = renderReport(run(corrected));
    const lines = text.trimEnd().split('\n');
    expect(lines.length).toBeLessThanOrEqual(40);
    expect(lines.every((l) => l.length <= 150)).toBe(true);
    const starts = lines.map((l) => l.split(/\s{2,}/)[0]);
    for (const concern of ['Flow', 'Invalid', 'Duplicates', 'Missing', 'Incorrect', 'Dead letters', 'Reviews', 'Triage', 'Volume', 'Logs', 'Page', 'Time']) expect(starts).toContain(concern);
    // Each concern's expected count, and they add up to the verdict's.
    const perConcern = [...text.matchAll(/\((\d+) expected\)/g)].map((m) => Number(m[1]));
    expect(perConcern.slice(0, 6).reduce((a, b) => a + b, 0)).toBe(expected);
    expect(text).toContain('More: --verbose');
    const verbose = renderReport(run(corrected), { verbose: true });
    expect(verbose.startsWith(text.slice(0, text.indexOf('More: --verbose')))).toBe(true);
    for (const section of ['Flow per topic', 'Examples (personal data masked)', 'Injected faults vs findings', 'Function logs (one JSON entry a line)']) {
      expect(text).not.toContain(section);
      expect(verbose).toContain(section);
    }
  });

  it('words each concern as what it is: the stack as the source of ticks, a call of 0 s, the triage records by class', () => {
    const text = renderReport(run(corrected));
    expect(text).toMatch(/^ {14}ticks: 1 from the local stack \(Cloud Scheduler in GCP\) -> gap-detector, volume-monitor$/m);
    expect(renderReport(run(corrected), { verbose: true })).toMatch(/^ {2}ticks +1 {3}the local stack \(Cloud Scheduler in GCP\) -> gap-detector/m);
    expect(text).not.toMatch(/ticks.*dlq-triage/);
    // The demo's volume fault, in a few words: the series, the hour, the count against its band.
    expect(text).toMatch(/^Volume {8}1 anomalous hour: discount\.issued in the hour from \d{4}-\d\d-\d\dT\d\d:00:00Z: 48 \(expected 8, range 0\.\.27\.5\) \(1 expected\)$/m);
    const zero = text.split('\n').find((l) => l.startsWith('  call of 0 s'));
    expect(zero).toMatch(/^ {2}call of 0 s {12}\S{8}… {2}completed call of 0 s$/);
    expect(text).not.toMatch(/expected 0, recorded 0/);
    const triage = text.split('\n').filter((l) => l.startsWith('Triage') || /^ {2}(invalid|review|transient|poison) /.test(l));
    // Reviews: a failed payment, two conversions beyond the review factor, a call of 0 s, three CRM records.
    expect(triage[0]).toMatch(/^Triage {8}\d+ open records: review 7, invalid 5, poison 1, transient 1; event-recovery dlq list --state open$/);
    expect(triage.slice(1).map((l) => l.trim().split(' ')[0])).toEqual(['review', 'invalid', 'poison', 'transient']);
    expect(text).toMatch(/^ {2}transient revenue-checker-sales +\S{8}… {2}503 \(5 recorded attempts\)$/m);
    expect(text).toMatch(/^Dead letters {2}2 after 5 attempts each \(2 expected\): poison from call-duration-checker-calls, transient from revenue-checker-sales$/m);
    expect(text).toContain(`Incorrect     ${findings.filter((f) => f.kind.endsWith('_mismatch')).length} found`);
    expect(text).toContain(`events-corrected: ${corrected} correction events for ${corrected} corrected events (${corrected} expected from the injected faults)\n`);
    const logged = topology.functions.filter(({ name }) => served.includes(name)).length;
    expect(text).toContain(`Logs          /tmp/run/logs: ${3 * logged} lines from ${logged} functions, all JSON entries; 0 errors, 0 failed pushes`);
    expect(text).toContain('Page          /tmp/run/report.html');
  });

  it('fails loudly: a missing finding, an unexpected one, a count of correction events that disagrees', () => {
    const dropped = findings.filter((f) => f.kind !== 'dead_letter');
    const extra: Finding = { kind: 'duplicate', action: 'dropped', event_id: 'x', duplicate_of: 'y', basis: 'id' };
    const text = renderReport(run(corrected + 1, [...dropped, extra]));
    expect(text.split('\n')[0]).toMatch(/^FAIL {2}\d+ findings expected, \d+ found, 2 MISSED, 1 UNEXPECTED; \d+ faults injected/);
    expect(text).toMatch(/^ {2}MISSED {6}Stripe answers 503 for pi_/m);
    expect(text).toMatch(/^ {2}UNEXPECTED {2}duplicate\/dropped x: same id as y$/m);
    expect(text).toMatch(/correction events for .* MISMATCH$/m);
  });
});

describe('progress helpers', () => {
  it.each([
    ['attributes.type = "sale.recorded"', { type: 'sale.recorded' }, true],
    ['attributes.type = "sale.recorded"', { type: 'call.completed' }, false],
    ['attributes.type = "sale.recorded"', {}, false],
    [undefined, { type: 'call.completed' }, true],
  ])('filter %s on %j: delivered %s', (filter, attributes, delivered) => {
    expect(filterMatches(filter, attributes)).toBe(delivered);
  });

  it('refuses a filter it cannot apply rather than deliver what GCP would not', () => {
    expect(() => filterMatches('hasPrefix(attributes.type, "sale")', {})).toThrow(/cannot apply the subscription filter hasPrefix/);
  });

  it("paces redeliveries by the manifest's retry policy, ten times faster than GCP, doubling up to its maximum", () => {
    const sub = resolveSubscriptions(topology).find((s) => s.name === 'deduplicator-events-raw')!;
    expect(sub.retryPolicy).toEqual({ minimumBackoffSeconds: 10, maximumBackoffSeconds: 600 });
    const backoff = localBackoff(sub);
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((attempt) => backoffMs(backoff, attempt))).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000]);
  });

  it.each([
    ['{"severity":"ERROR","message":"x"}', 'stdout', true],
    ['{"severity":"NOTICE","message":"x"}', 'stdout', false],
    ['{"severity":"INFO","message":"x"}', 'stderr', false],
    ['TransientError: claim held', 'stderr', true],
    ['Serving function...', 'stdout', false],
  ] as const)('%s on %s is an error line: %s', (line, stream, error) => {
    expect(isErrorLine(line, stream)).toBe(error);
  });

  it("keeps what a dead instance's last entries said, for a person", () => {
    expect(said('{"severity":"ERROR","message":"FAULT_INJECT: killing this process at pass 3 of mid-batch","function":"validator"}')).toBe(
      'FAULT_INJECT: killing this process at pass 3 of mid-batch',
    );
    expect(said('{"severity":"INFO","count":3}')).toBe('{"severity":"INFO","count":3}');
    expect(said('plain text')).toBe('plain text');
  });
});

describe('the triage section of the report', () => {
  it('lists the open records by class with their reasons, masked, in a few lines', () => {
    const open = [
      { id: 'a', class: 'transient', subscription: 'revenue-checker-sales', reason: 'revenue-checker: UpstreamError STRIPE_500: stripe: 500', event: { id: 'sale-1' } },
      { id: 'b', class: 'transient', subscription: 'revenue-checker-sales', reason: 'no reason recorded', event: { id: 'sale-2' } },
      { id: 'c', class: 'transient', subscription: 'validator-events-raw', reason: 'no reason recorded', event: {} },
      { id: 'd', class: 'invalid', subscription: 'validator-events-raw', reason: 'data.contact.email: bad ada@example.com', event: { id: 'card-9' } },
    ];
    const lines = triageSection({ open });
    expect(lines).toEqual([
      'Triage        4 open records: transient 3, invalid 1; event-recovery dlq list --state open',
      '  transient revenue-checker-sales       sale-1     revenue-checker: UpstreamError STRIPE_500: stripe: 500 (+2 more)',
      '  invalid   validator-events-raw        card-9     data.contact.email: bad a***@example.com',
    ]);
    expect(triageSection({ open: [] })).toEqual(['Triage        no open records']);
    expect(triageSection({ open: [], error: 'GET /v1/records answered 401' })).toEqual(['Triage        not read (GET /v1/records answered 401)']);
  });

  it('prints the dlq commands for the ports of the stack in dev mode', () => {
    const text = devInstructions('p', { pubsub: { host: '127.0.0.1:1' }, firestore: { host: '127.0.0.1:2' } }, '/tmp/logs', { url: 'http://127.0.0.1:9', token: 'tok' });
    expect(text).toContain('export DLQ_API_URL=http://127.0.0.1:9 DLQ_API_TOKEN=tok');
    expect(text).toContain('event-recovery.js dlq list');
    expect(devInstructions('p', { pubsub: { host: 'h' }, firestore: { host: 'f' } }, '/tmp/logs')).not.toContain('DLQ_API_URL');
  });
});
