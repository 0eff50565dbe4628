import type { InjectedFault } from '../../local/demo';
import { compareWithFaults } from '../../local/expected';
import { isErrorLine } from '../../local/functions';
import { passesFilter } from '../../local/progress';
import { pushIdentity } from '../../local/push-gateway';
import { describeFinding } from '../../local/report';
import { maskText } from '../../shared/mask';
import { pushBody } from '../../shared/pubsub/push';

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

  it('reports what was missed and what nothing explains, and does not check what no running function detects', () => {
    const faults = [
      fault('duplicate: same id', 'deduplicator', { match: { kind: 'duplicate', event_id: 'a', basis: 'id' } }),
      fault('missing: late arrival', 'gap-detector', { match: { kind: 'late', event_id: 'b' } }),
    ];
    const stray = { kind: 'duplicate' as const, action: 'dropped' as const, event_id: 'z', basis: 'content' as const };
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
    expect(describeFinding({ kind: 'duplicate', action: 'dropped', event_id: 'b', type: 'sale.recorded', source: '//shop', duplicate_of: 'a', basis: 'business_key' })).toBe(
      'b (sale.recorded from //shop): same business key as a',
    );
    expect(describeFinding({ kind: 'invalid', action: 'dropped', reason: 'data.contact.email: bad ada@example.com' })).toBe('a message with no readable id: data.contact.email: bad a***@example.com');
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
