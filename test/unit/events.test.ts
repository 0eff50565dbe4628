import { fromStripeAmount, minorUnitExponent, stripeExponent, toStripeAmount, toUsdCents } from '../../shared/events/currency';
import { businessKey, canonicalJson, contentKey } from '../../shared/events/keys';
import { parseRfc3339 } from '../../shared/events/time';
import { validateEvent, validateJson } from '../../shared/events/validate';
import { BusinessEvent } from '../../shared/events/envelope';
import { awaitKey } from '../../functions/gap-detector/chains';
import * as fx from '../support/events';

const ctx = { now: Date.parse('2026-03-01T12:00:00Z'), maxFutureMs: 5 * 60_000 };

describe('RFC 3339 time', () => {
  it.each([
    ['2026-03-01T10:00:00Z', '2026-03-01T10:00:00Z'],
    ['2026-03-01T10:00:00.000Z', '2026-03-01T10:00:00Z'],
    ['2026-03-01T11:00:00+01:00', '2026-03-01T10:00:00Z'],
    ['2026-03-01t10:00:00.123456789z', '2026-03-01T10:00:00.123456789Z'],
    ['2024-02-29T23:59:59-00:30', '2024-03-01T00:29:59Z'],
  ])('accepts %s as %s', (text, canonical) => {
    expect(parseRfc3339(text)?.canonical).toBe(canonical);
  });

  it.each(['2026-03-01 10:00:00Z', '2026-03-01T10:00:00', '2026-02-30T10:00:00Z', '2025-02-29T00:00:00Z', '2026-03-01T24:00:00Z', '2026-13-01T00:00:00Z', '2026-03-01T10:00:00+2400', '1709287200', ''])(
    'rejects %p',
    (text) => {
      expect(parseRfc3339(text)).toBeUndefined();
    },
  );
});

describe('currency conversion (DESIGN §2)', () => {
  it.each([
    ['USD', 2],
    ['EUR', 2],
    ['JPY', 0],
    ['KRW', 0],
    ['KWD', 3],
    ['BHD', 3],
    ['CLF', 4],
  ])('%s has exponent %i', (code, e) => {
    expect(minorUnitExponent(code)).toBe(e);
  });

  it.each([
    // currency, ISO exponent, Stripe's (https://docs.stripe.com/currencies), 5 units in ISO minor units, in Stripe's
    ['ISK', 0, 2, 5, 500],
    ['UGX', 0, 2, 5, 500],
    ['MGA', 2, 0, 500, 5],
    ['JPY', 0, 0, 5, 5],
    ['HUF', 2, 2, 500, 500],
    ['TWD', 2, 2, 500, 500],
    ['KWD', 3, 3, 5000, 5000],
    ['EUR', 2, 2, 500, 500],
  ])('%s: ISO exponent %i, Stripe %i; 5 units are %i in the event and %i at Stripe', (code, iso, stripe, isoAmount, stripeAmount) => {
    expect(minorUnitExponent(code)).toBe(iso);
    expect(stripeExponent(code)).toBe(stripe);
    expect(toStripeAmount(isoAmount, code)).toBe(stripeAmount);
    expect(fromStripeAmount(stripeAmount, code)).toBe(isoAmount);
  });

  it.each([
    [10_000, 'EUR', 0.92, 10_870], // 100 EUR / 0.92 = 108.695… USD
    [15_130, 'JPY', 151.3, 10_000],
    [1_000, 'KWD', 0.307, 326], // 1.000 KWD / 0.307 = 3.257… USD
    [3_500, 'USD', 1, 3_500],
    [0, 'EUR', 0.92, 0],
    [1, 'EUR', 2, 1], // 0.5 cent rounds up (Math.round)
  ])('%i %s at %f is %i US cents', (amount, currency, rate, usd) => {
    expect(toUsdCents(amount, currency, rate)).toBe(usd);
  });
});

describe('envelope and catalog', () => {
  const builders = [fx.cardScanned, fx.leadCreated, fx.crmSynced, fx.leadTagged, fx.followupSent, fx.callCompleted, fx.saleRecorded, fx.discountIssued];
  it.each(builders.map((b) => [b().type, b] as const))('a well-formed %s is valid', (_type, build) => {
    const result = validateEvent(build(), ctx);
    expect(result).toMatchObject({ ok: true });
  });

  it.each([
    ['specversion', { specversion: '0.3' }, 'specversion'],
    ['empty id', { id: '' }, 'id'],
    ['long id', { id: 'x'.repeat(257) }, 'id'],
    ['source with a space', { source: 'scanner ios' }, 'source'],
    ['unknown type', { type: 'card.burned' }, 'type'],
    ['time without offset', { time: '2026-03-01T10:00:00' }, 'time'],
    ['time on a day that does not exist', { time: '2026-02-30T10:00:00Z' }, 'time'],
    ['started_at on a day that does not exist', { ...fx.callCompleted(), data: { ...fx.callCompleted().data, started_at: '2026-02-30T10:00:00Z' } }, 'data.started_at'],
    ['time too far ahead', { time: '2026-03-01T12:05:01Z' }, 'time'],
    ['sequence not digits', { sequence: '-1' }, 'sequence'],
    ['sequence as a number', { sequence: 7 }, 'sequence'],
    ['data not an object', { data: 'x' }, 'data'],
  ])('rejects %s', (_name, patch, path) => {
    const result = validateEvent({ ...fx.cardScanned(), ...patch }, ctx);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors.map((e) => e.path)).toContain(path);
  });

  it('accepts a time exactly 5 minutes ahead', () => {
    expect(validateEvent(fx.cardScanned({ time: '2026-03-01T12:05:00Z' }), ctx).ok).toBe(true);
  });

  it.each([
    ['lead.created without owner', fx.leadCreated({ data: { owner_id: undefined } }), 'data.owner_id'],
    ['crm outside the enum', fx.crmSynced({ data: { crm: 'pipedrive' } }), 'data.crm'],
    ['empty tags', fx.leadTagged({ data: { tags: [] } }), 'data.tags'],
    ['unknown channel', fx.followupSent({ data: { channel: 'fax' } }), 'data.channel'],
    ['short call_sid', fx.callCompleted({ data: { call_sid: 'CA123' } }), 'data.call_sid'],
    ['non-E.164 to', fx.callCompleted({ data: { to: '4155550101' } }), 'data.to'],
    ['negative duration', fx.callCompleted({ data: { duration_seconds: -1 } }), 'data.duration_seconds'],
    ['fractional quantity', fx.saleRecorded({ data: { line_items: [{ sku: 'a', unit_amount: 1, quantity: 1.5 }] } }), 'data.line_items.0.quantity'],
    ['no line items', fx.saleRecorded({ data: { line_items: [] } }), 'data.line_items'],
    ['lower-case currency', fx.saleRecorded({ data: { currency: 'usd' } }), 'data.currency'],
    ['unknown currency', fx.saleRecorded({ data: { currency: 'XYZ' } }), 'data.currency'],
    ['float amount', fx.saleRecorded({ data: { amount: 35.5 } }), 'data.amount'],
    ['bad payment intent', fx.saleRecorded({ data: { payment_intent_id: 'ch_1' } }), 'data.payment_intent_id'],
    ['discount without code', fx.discountIssued({ data: { code: undefined } }), 'data.code'],
  ])('rejects %s with the path of the problem', (_name, event, path) => {
    const result = validateEvent(JSON.parse(JSON.stringify(event)), ctx);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors.map((e) => e.path)).toContain(path);
  });

  it('keeps what it could read of an invalid event, and explains in one sentence', () => {
    const result = validateEvent({ ...fx.saleRecorded({ id: 'ev-9' }), data: { order_id: 'o' } }, ctx);
    expect(result).toMatchObject({ ok: false, identity: { id: 'ev-9', type: 'sale.recorded', source: '//test/producer' } });
    if (!result.ok) expect(result.reason).toMatch(/^data\.line_items: .*; data\.amount: /);
  });

  it.each([['not json'], ['[1,2]'], ['null'], ['"text"']])('treats %p as invalid, not as a crash', (text) => {
    expect(validateJson(text, ctx).ok).toBe(false);
  });
});

describe('keys', () => {
  const parse = (e: object) => BusinessEvent.parse(e);
  it.each([
    [fx.cardScanned({ data: { card_id: 'c9' } }), '["card.scanned","c9"]'],
    [fx.leadCreated({ data: { card_id: 'c9' } }), '["lead.created","c9"]'],
    [fx.leadCreated({ data: { card_id: undefined } }), undefined],
    [fx.crmSynced(), '["crm.synced","lead-1","hubspot"]'],
    [fx.leadTagged(), undefined],
    [fx.followupSent(), '["followup.sent","lead-1","email","welcome"]'],
    [fx.callCompleted(), `["call.completed","CA${'0123456789abcdef'.repeat(2)}"]`],
    [fx.saleRecorded(), '["sale.recorded","order-1"]'],
    [fx.discountIssued(), '["discount.issued","user-1","spring"]'],
  ])('business key of %#', (event, key) => {
    expect(businessKey(parse(JSON.parse(JSON.stringify(event))))).toBe(key);
  });

  it('canonical JSON sorts keys at every depth', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { y: 1, x: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[2,{"x":2,"y":1}]},"b":1}');
  });

  it('content key ignores id, key order and the spelling of the instant', () => {
    const a = parse(fx.cardScanned({ id: 'a', time: '2026-03-01T10:00:00Z' }));
    const b = parse({ ...fx.cardScanned({ id: 'b', time: '2026-03-01T11:00:00.000+01:00' }), data: { scanned_by: 'user-1', contact: { email: 'ada@example.com', name: 'Ada' }, card_id: 'card-1' } });
    expect(contentKey(a)).toBe(contentKey(b));
    expect(contentKey(a)).not.toBe(contentKey(parse(fx.cardScanned({ source: '//other' }))));
    expect(contentKey(a)).not.toBe(contentKey(parse(fx.cardScanned({ time: '2026-03-01T10:00:01Z' }))));
  });
});

describe('business keys after Unicode NFC normalisation (issue 20)', () => {
  const composed = 'caf\u00e9';
  const decomposed = 'cafe\u0301';
  it.each([
    ['card.scanned', (id: string) => fx.cardScanned({ data: { card_id: id } })],
    ['lead.created', (id: string) => fx.leadCreated({ data: { card_id: id } })],
    ['crm.synced', (id: string) => fx.crmSynced({ data: { lead_id: id } })],
    ['followup.sent', (id: string) => fx.followupSent({ data: { template: id } })],
    ['sale.recorded', (id: string) => fx.saleRecorded({ data: { order_id: id } })],
    ['discount.issued', (id: string) => fx.discountIssued({ data: { program: id } })],
  ])('%s: the NFC and NFD spellings are one key; case still counts', (_type, make) => {
    const key = (id: string) => businessKey(BusinessEvent.parse(make(id)));
    expect(key(decomposed)).toBe(key(composed));
    expect(key('CAF\u00c9')).not.toBe(key(composed));
  });

  it('chains link NFC and NFD spellings of one id', () => {
    expect(awaitKey('lead.created', decomposed)).toBe(awaitKey('lead.created', composed));
  });
});
