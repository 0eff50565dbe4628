import { buildDemo, type InjectedFault } from '../../tools/local/demo';
import { compareWithFaults } from '../../tools/local/expected';
import { isErrorLine } from '../../tools/local/functions';
import { passesFilter } from '../../tools/local/progress';
import { pushIdentity } from '../../tools/local/push-gateway';
import { describeFinding, devInstructions, renderReport, triageSection, type StackRun } from '../../tools/local/report';
import type { Finding } from '../../shared/findings';
import { maskText } from '../../shared/mask';
import { pushBody } from '../../shared/pubsub/push';
import { topology } from '../../shared/topology';

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
    expect(describeFinding({ kind: 'amount_mismatch', action: 'corrected', event_id: 's', field: 'amount', expected: 2000, actual: 1800 })).toBe('s amount: expected 2000, recorded 1800');
  });
});

describe('the report of corrections and reviews', () => {
  const demo = buildDemo({ now: Date.parse('2026-03-01T12:00:00Z') });
  // What the functions find when they find exactly what the demo's manifest expects.
  const findings = demo.faults.flatMap((f) => f.expect.map((e) => ({ action: 'reported', ...e.match, ...(e.reasonIncludes ? { reason: e.reasonIncludes } : {}) }) as Finding));
  const served = topology.functions.map((f) => f.name).filter((name) => name !== 'dlq-triage');
  const run = (corrections: number): StackRun => ({
    projectId: 'p',
    demo,
    published: demo.messages.length,
    counts: { 'events-corrected': corrections },
    findings,
    comparison: compareWithFaults(demo.faults, findings, new Set(served)),
    functions: topology.functions.map(({ name }) => ({ name, served: served.includes(name) })),
    logDir: '/tmp/logs',
    timings: { startupMs: 1000, processingMs: 2000, totalMs: 3000 },
  });
  const section = (text: string) => text.slice(text.indexOf('Corrections and reviews'), text.indexOf('Injected faults vs findings')).trim().split('\n');

  it('counts the correction events against the corrected events and the faults, shows one example of each kind, and lists every review', () => {
    const text = renderReport(run(4));
    const lines = section(text);
    expect(lines[1]).toBe('  events-corrected   4 correction events for 4 corrected events (4 expected from the injected faults)');
    const examples = lines.slice(2, lines.findIndex((l) => l.startsWith('  held for review')));
    expect(examples.map((l) => l.trim().split(' ')[0])).toEqual(['amount_mismatch', 'fx_mismatch', 'call_duration_mismatch', '...']);
    expect(examples.at(-1)).toBe('    ... and 1 more corrected finding');
    const reviews = findings.filter((f) => f.action === 'review');
    expect(lines).toContain(`  held for review    ${reviews.length} findings: a person decides, no correction event is published`);
    for (const f of reviews) expect(lines.some((l) => l.includes(f.event_id!) && l.trimStart().startsWith(f.kind))).toBe(true);
    expect(text).toContain(`Result: all ${findings.length} findings expected from the served functions were found, and nothing else.`);
  });

  it('flags a count of correction events that disagrees', () => {
    expect(section(renderReport(run(5)))[1]).toMatch(/5 correction events for 4 corrected events \(4 expected from the injected faults\) {2}MISMATCH$/);
  });
});

describe('progress helpers', () => {
  it.each([
    ['attributes.type = "sale.recorded"', { type: 'sale.recorded' }, true],
    ['attributes.type = "sale.recorded"', { type: 'call.completed' }, false],
    ['hasPrefix(attributes.type, "sale")', { type: 'call.completed' }, true],
  ])('filter %s on %j: delivered %s', (filter, attributes, delivered) => {
    expect(passesFilter(filter, attributes)).toBe(delivered);
  });

  it('reads the subscription and message id of a push body, and nothing from a body that is not one', () => {
    const body = Buffer.from(JSON.stringify(pushBody('{}', {}, '42', 'projects/p/subscriptions/validator-events-raw')));
    expect(pushIdentity(body)).toEqual({ subscription: 'validator-events-raw', messageId: '42' });
    expect(pushIdentity(Buffer.from('nope'))).toEqual({ subscription: '', messageId: undefined });
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
    expect(lines[0]).toBe('Dead letters and triage: 4 open (invalid 1, transient 3); event-recovery dlq list');
    expect(lines).toContain('  invalid   validator-events-raw        card-9: data.contact.email: bad a***@example.com');
    expect(lines).toContain('  transient revenue-checker-sales       sale-1: revenue-checker: UpstreamError STRIPE_500: stripe: 500');
    expect(lines.at(-1)).toBe('  transient ... and 1 more');
    expect(triageSection({ open: [] })).toEqual(['Dead letters and triage: no open records']);
    expect(triageSection({ open: [], error: 'GET /v1/records answered 401' })).toEqual(['Dead letters and triage: not read (GET /v1/records answered 401)']);
  });

  it('prints the dlq commands for the ports of the stack in dev mode', () => {
    const text = devInstructions('p', { pubsub: { host: '127.0.0.1:1' }, firestore: { host: '127.0.0.1:2' } }, '/tmp/logs', { url: 'http://127.0.0.1:9', token: 'tok' });
    expect(text).toContain('export DLQ_API_URL=http://127.0.0.1:9 DLQ_API_TOKEN=tok');
    expect(text).toContain('event-recovery.js dlq list');
    expect(devInstructions('p', { pubsub: { host: 'h' }, firestore: { host: 'f' } }, '/tmp/logs')).not.toContain('DLQ_API_URL');
  });
});
