import { validate } from '../../functions/deduplicator/core-validation';
import { decodeEvent } from '../../shared/events/decode';
import { duplicateKeyPath } from '../../shared/events/duplicate-keys';
import { validateJson } from '../../shared/events/validate';
import * as fx from '../support/events';

const ctx = { now: Date.parse('2026-03-01T12:00:00Z'), maxFutureMs: 5 * 60_000 };
const DUPLICATE = 'appears more than once in one object (a duplicate JSON key: a reader keeping the first and one keeping the last would see different events)';

/** A valid event's JSON with `extra` spliced in right after its opening brace (or after `"data":{`). */
const sale = JSON.stringify(fx.saleRecorded({ id: 's-1' }));
const top = (extra: string) => `{${extra},${sale.slice(1)}`;
const inData = (extra: string) => sale.replace('"data":{', `"data":{${extra},`);

describe('duplicate JSON keys (RFC 8259 §4: names SHOULD be unique; readers then disagree)', () => {
  it.each([
    ['type', top('"type":"lead.deleted"')],
    ['id', top('"id":"s-other"')],
    ['time', top('"time":"2099-01-01T00:00:00Z"')],
    ['data.amount', inData('"amount":1')],
    ['data.line_items.0.sku', sale.replace('{"sku":"', '{"sku":"x","sku":"')],
    ['type', top('"t\\u0079pe":"lead.deleted"')], // the same name, escaped
    ['type', top('"type" : "lead.deleted"')], // with whitespace around the colon
    ['data.order_id', inData('"note":"say \\"hi\\"","order_id":"o-2"')], // with an escaped quote in a value
    ['__proto__', top('"__proto__":1,"__proto__":2')],
  ])('rejects a repeated %s, naming it', (path, text) => {
    expect(() => JSON.parse(text)).not.toThrow(); // JSON.parse keeps the last and says nothing
    const result = validateJson(text, ctx);
    expect(result).toMatchObject({ ok: false, errors: [{ path, message: DUPLICATE }], reason: `${path}: ${DUPLICATE}` });
  });

  it('leaves out of the identity an attribute whose value is ambiguous', () => {
    const result = validateJson(top('"id":"s-other"'), ctx);
    expect(result).toMatchObject({ ok: false, identity: { type: 'sale.recorded', source: '//test/producer' } });
    if (!result.ok) expect(result.identity.id).toBeUndefined();
  });

  it.each([
    ['the same key in sibling objects', sale],
    ['an escaped quote in a value', inData('"note":"say \\"hi\\": \\"x\\":"')],
    ['pretty-printed JSON', JSON.stringify(fx.saleRecorded({ id: 's-1' }), null, 2)],
    ['a key that is a prefix of another', inData('"amount_x":1')],
  ])('accepts %s', (_name, text) => {
    expect(validateJson(text, ctx).ok).toBe(true);
  });

  it('rejects it the same way in the validator function and downstream (one rule)', () => {
    const text = top('"type":"lead.deleted"');
    expect(validate(text, { now: ctx.now, config: { maxFutureMs: ctx.maxFutureMs } })).toMatchObject({ kind: 'invalid', finding: { kind: 'invalid', reason: `type: ${DUPLICATE}` } });
    expect(decodeEvent(Buffer.from(text))).toEqual({ ok: false, reason: `type: ${DUPLICATE}` });
  });

  it('finds the first duplicate in document order, at any depth', () => {
    expect(duplicateKeyPath('{"a":{"b":[{"c":1,"c":2}]},"a":3}', JSON.parse('{"a":3}'))).toEqual(['a', 'b', '0', 'c']);
    expect(duplicateKeyPath('{"a":[1,{"x":{}}],"b":{"x":1}}', JSON.parse('{"a":[1,{"x":{}}],"b":{"x":1}}'))).toBeUndefined();
  });
});
