import { CloudEvent } from 'cloudevents';
import { decodeEvent } from '../../shared/events/decode';
import { parseRfc3339 } from '../../shared/events/time';
import { validateJson } from '../../shared/events/validate';
import * as fx from '../support/events';

const ctx = { now: Date.parse('2026-03-01T12:00:00Z'), maxFutureMs: 5 * 60_000 };

/** What the official SDK writes for an event whose data it was given as bytes (structured mode, JSON format §3.1.1). */
function sdkBinary(raw: ReturnType<typeof fx.leadTagged>, datacontenttype?: string): string {
  const { data, ...attributes } = raw;
  return JSON.stringify(new CloudEvent({ ...attributes, ...(datacontenttype ? { datacontenttype } : {}), data: Buffer.from(JSON.stringify(data)) }));
}

describe('data_base64 (CloudEvents JSON format §3.1), as the cloudevents SDK emits it', () => {
  const raw = fx.leadTagged({ id: 't-1', time: '2026-03-01T10:00:00Z', data: { lead_id: 'lead-1', tags: ['vip'] } });

  it.each([undefined, 'application/json', 'application/cloudevents+json; charset=utf-8'])('accepts it (datacontenttype %s): the event is the one its data says', (type) => {
    const text = sdkBinary(raw, type);
    expect(JSON.parse(text)).toHaveProperty('data_base64');
    const result = validateJson(text, ctx);
    expect(result).toMatchObject({ ok: true, event: { id: 't-1', type: 'lead.tagged', data: { lead_id: 'lead-1', tags: ['vip'] } } });
    if (result.ok) expect(result.event).not.toHaveProperty('data_base64');
    expect(decodeEvent(Buffer.from(text))).toMatchObject({ ok: true, event: { data: { lead_id: 'lead-1' } } }); // downstream, from the forwarded bytes
  });

  it.each([
    ['both data and data_base64', (t: string) => t.replace('"data_base64"', '"data":{"lead_id":"x","tags":["y"]},"data_base64"'), '', 'has both data and data_base64: a CloudEvent carries one or the other (CloudEvents JSON format §3.1.1)'],
    ['not base64', (t: string) => t.replace(/"data_base64":"[^"]*"/, '"data_base64":"not base64!"'), 'data_base64', 'must be a base64 string (RFC 4648 §4)'],
    ['not JSON inside', (t: string) => t.replace(/"data_base64":"[^"]*"/, `"data_base64":"${Buffer.from('<xml/>').toString('base64')}"`), 'data_base64', /^does not hold JSON \(/],
    ['a repeated key inside', (t: string) => t.replace(/"data_base64":"[^"]*"/, `"data_base64":"${Buffer.from('{"lead_id":"a","tags":["x"],"lead_id":"b"}').toString('base64')}"`), 'data.lead_id', /^appears more than once in one object/],
  ])('rejects %s', (_name, edit, path, message) => {
    const result = validateJson(edit(sdkBinary(raw)), ctx);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors).toEqual([{ path, message: typeof message === 'string' ? message : expect.stringMatching(message) }]);
  });

  it('rejects data_base64 declared as something other than JSON', () => {
    const result = validateJson(sdkBinary(raw, 'application/octet-stream'), ctx);
    expect(result).toMatchObject({ ok: false, errors: [{ path: 'datacontenttype', message: expect.stringMatching(/^is "application\/octet-stream": data_base64 must hold JSON/) }] });
  });

  it('still rejects an event with both data and data_base64 when data is null', () => {
    const text = sdkBinary(raw).replace('"data_base64"', '"data":null,"data_base64"');
    expect(validateJson(text, ctx)).toMatchObject({ ok: false, errors: [{ path: '' }] });
  });
});

describe('leap seconds (RFC 3339 §5.7: second 60 only at the end of a month that has a leap second)', () => {
  it.each(['2016-12-31T23:59:60Z', '2015-06-30T23:59:60Z', '1972-06-30T23:59:60Z', '2016-12-31T15:59:60-08:00', '2017-01-01T00:59:60+01:00'])('accepts %s', (time) => {
    expect(parseRfc3339(time)).toBeDefined();
  });

  it.each(['2026-02-27T23:59:60Z', '2025-12-31T23:59:60Z', '2016-12-31T23:58:60Z', '2016-12-30T23:59:60Z', '2016-12-31T23:59:60+01:00', '2026-03-01T10:00:60Z'])('rejects %s', (time) => {
    expect(parseRfc3339(time)).toBeUndefined();
    const result = validateJson(JSON.stringify(fx.leadTagged({ time })), ctx);
    expect(result).toMatchObject({ ok: false, errors: [{ path: 'time', message: expect.stringMatching(/second 60.*leap second/) }] });
  });
});

describe('a byte-order mark at the start of an event text', () => {
  it('is rejected with a reason a person can read: the invisible character is named, not printed', () => {
    const result = validateJson(`\uFEFF${JSON.stringify(fx.leadTagged())}`, ctx);
    expect(result).toMatchObject({ ok: false, reason: 'starts with a byte-order mark (U+FEFF): a JSON text sent over a network must not (RFC 8259 §8.1)' });
    if (!result.ok) expect(result.reason).not.toMatch(/\uFEFF/);
  });

  it('elsewhere, an invisible character in a JSON error is named too', () => {
    const result = validateJson('\u200B{"a":1}', ctx); // JSON.parse quotes the text it fails on
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.reason).not.toMatch(/[\u200B\uFEFF]/);
      expect(result.reason).toContain('<U+200B>');
    }
  });
});
