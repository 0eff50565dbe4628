import { decodeEvent } from '../../shared/events/decode';
import { contentKey } from '../../shared/events/keys';
import { parseRfc3339 } from '../../shared/events/time';
import { MAX_DATA_DEPTH, validateEvent, validateJson } from '../../shared/events/validate';
import { validate } from '../../functions/deduplicator/core-validation';
import * as fx from '../support/events';

const ctx = { now: Date.parse('2026-03-01T12:00:00Z'), maxFutureMs: 5 * 60_000 };

/** `{"n":{"n":…{}}}`: `levels` objects, the outermost counted as 1. */
function nested(levels: number): Record<string, unknown> {
  let v: Record<string, unknown> = {};
  for (let i = 1; i < levels; i++) v = { n: v };
  return v;
}

describe('CloudEvents null attributes (JSON format §3: a null attribute is absent)', () => {
  it.each(['subject', 'sequence', 'correlationid', 'correctionof', 'someextension'])('accepts %s: null as absent', (name) => {
    const result = validateEvent({ ...fx.cardScanned(), [name]: null }, ctx);
    expect(result.ok).toBe(true);
    if (result.ok) expect((result.event as Record<string, unknown>)[name]).toBeUndefined();
  });

  it('reads them as absent downstream too (events-valid carries the original bytes)', () => {
    const decoded = decodeEvent(Buffer.from(JSON.stringify({ ...fx.cardScanned(), subject: null, sequence: null })));
    expect(decoded.ok).toBe(true);
    if (decoded.ok) expect(decoded.event.sequence).toBeUndefined();
  });

  it.each(['id', 'source', 'type', 'time', 'specversion'])('still rejects a required %s that is null', (name) => {
    const result = validateEvent({ ...fx.cardScanned(), [name]: null }, ctx);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors.map((e) => e.path)).toContain(name);
  });

  it.each([
    ['subject', 7],
    ['sequence', 7],
    ['correlationid', false],
    ['correctionof', ''],
  ])('still rejects %s: %p', (name, value) => {
    expect(validateEvent({ ...fx.cardScanned(), [name]: value }, ctx).ok).toBe(false);
  });

  it('keeps data: null invalid (data is required)', () => {
    expect(validateEvent({ ...fx.cardScanned(), data: null }, ctx).ok).toBe(false);
  });
});

describe('deep nesting', () => {
  it(`accepts data nested ${MAX_DATA_DEPTH} levels deep`, () => {
    const event = fx.cardScanned({ data: { extra: nested(MAX_DATA_DEPTH - 1) } });
    expect(validateEvent(event, ctx).ok).toBe(true);
  });

  it.each([MAX_DATA_DEPTH + 1, 2_600, 200_000])('rejects data nested %i levels deep with a reason, without a crash', (levels) => {
    const text = JSON.stringify({ ...fx.cardScanned(), data: { ...fx.cardScanned().data } }).replace(/}$/, '') + `,"deep":${'['.repeat(levels)}${']'.repeat(levels)}}`;
    // data + `levels` arrays inside it
    const result = validateJson(text, ctx);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(new RegExp(`nests deeper than ${MAX_DATA_DEPTH} levels`));
  });

  it('rejects a deep extension attribute the same way', () => {
    const result = validateEvent({ ...fx.cardScanned(), ext: nested(MAX_DATA_DEPTH + 1) }, ctx);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors[0]).toMatchObject({ path: 'ext' });
  });

  it('downstream decoding reports it instead of crashing later stages', () => {
    const decoded = decodeEvent(Buffer.from(JSON.stringify(fx.cardScanned({ data: { extra: nested(3_000) } }))));
    expect(decoded).toMatchObject({ ok: false, reason: expect.stringMatching(/nests deeper/) });
  });
});

describe('sequence: compared as integers, printed exactly (DESIGN §4)', () => {
  it.each(['0', '1', '007', String(Number.MAX_SAFE_INTEGER), `${'0'.repeat(300)}42`])('accepts %s', (sequence) => {
    expect(validateEvent({ ...fx.cardScanned(), sequence }, ctx).ok).toBe(true);
  });

  it.each([String(Number.MAX_SAFE_INTEGER + 1), '9'.repeat(17), '1'.repeat(300), '9'.repeat(400)])('rejects %s as over 2^53-1, with a reason', (sequence) => {
    const result = validateEvent({ ...fx.cardScanned(), sequence }, ctx);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(/^sequence: must be at most 9007199254740991/);
  });
});

describe('times far from now', () => {
  it.each([
    ['0000-01-01T00:30:00+01:00', '-000001-12-31T23:30:00Z'],
    ['0000-01-01T00:00:59+00:01', '-000001-12-31T23:59:59Z'],
    ['0000-01-01T00:00:01.5+00:01', '-000001-12-31T23:59:01.5Z'],
    ['9999-12-31T23:59:59-01:00', '+010000-01-01T00:59:59Z'],
  ])('canonicalises %s to %s, seconds included', (text, canonical) => {
    expect(parseRfc3339(text)?.canonical).toBe(canonical);
  });

  it('two instants a second apart in year 0000 are different content', () => {
    const a = fx.cardScanned({ time: '0000-01-01T00:00:01+01:00' });
    const b = fx.cardScanned({ time: '0000-01-01T00:00:02+01:00' });
    const va = validateEvent(a, { ...ctx, now: Date.parse('2026-03-01T12:00:00Z') });
    const vb = validateEvent(b, ctx);
    expect(va.ok && vb.ok).toBe(true);
    if (va.ok && vb.ok) expect(contentKey(va.event, va.canonicalTime)).not.toBe(contentKey(vb.event, vb.canonicalTime));
  });
});

describe('bytes that are not UTF-8', () => {
  const good = Buffer.from(JSON.stringify(fx.cardScanned({ id: 'é-1' })));

  it('the validator rejects a payload with invalid UTF-8 with a reason, instead of rewriting it to U+FFFD', () => {
    const text = Buffer.concat([Buffer.from('{"specversion":"1.0","id":"a'), Buffer.from([0xff]), Buffer.from(JSON.stringify(fx.cardScanned()).replace(/^\{"specversion":"1.0","id":"[^"]*/, ''))]);
    const decision = validate(text, { now: ctx.now, config: { maxFutureMs: ctx.maxFutureMs } });
    expect(decision).toMatchObject({ kind: 'invalid', finding: { reason: expect.stringMatching(/not valid UTF-8 \(at byte 28\)/) } });
  });

  it('the validator keeps accepting valid UTF-8, U+FFFD itself included', () => {
    expect(validate(good, { now: ctx.now, config: { maxFutureMs: ctx.maxFutureMs } }).kind).toBe('valid');
    const withReplacementChar = Buffer.from(JSON.stringify(fx.cardScanned({ id: 'a\uFFFDb' })));
    expect(validate(withReplacementChar, { now: ctx.now, config: { maxFutureMs: ctx.maxFutureMs } }).kind).toBe('valid');
  });
});

describe('decodeEvent (events-valid, events-unique) with bytes that are not UTF-8', () => {
  it('reports them instead of reading U+FFFD', () => {
    const bytes = Buffer.from(JSON.stringify(fx.cardScanned({ id: 'aXb' })));
    bytes[bytes.indexOf('X')] = 0xfe;
    expect(decodeEvent(bytes)).toEqual({ ok: false, reason: 'message data is not valid UTF-8 (at byte 28)' });
  });
});

describe('lone surrogates (JSON escapes that are not Unicode text)', () => {
  it.each([
    ['id', '{"specversion":"1.0","id":"a-\\ud800","source":"//s","type":"lead.tagged","time":"2026-03-01T10:00:00Z","data":{"lead_id":"l","tags":["x"]}}'],
    ['data.lead_id', '{"specversion":"1.0","id":"a","source":"//s","type":"lead.tagged","time":"2026-03-01T10:00:00Z","data":{"lead_id":"l\\udfff","tags":["x"]}}'],
    ['data.tags.0', '{"specversion":"1.0","id":"a","source":"//s","type":"lead.tagged","time":"2026-03-01T10:00:00Z","data":{"lead_id":"l","tags":["\\ude00\\ud83d"]}}'],
    ['data', '{"specversion":"1.0","id":"a","source":"//s","type":"lead.tagged","time":"2026-03-01T10:00:00Z","data":{"lead_id":"l","tags":["x"],"\\ud800":1}}'],
  ])('rejects one in %s: digests (Firestore keys) would read it as U+FFFD and merge distinct ids', (path, text) => {
    const result = validateJson(text, ctx);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors).toEqual([{ path, message: 'holds a lone UTF-16 surrogate (not Unicode text)' }]);
  });

  it('accepts escaped surrogate pairs and other escapes', () => {
    const text = '{"specversion":"1.0","id":"a-\\ud83d\\ude00-\\u00e9","source":"//s","type":"lead.tagged","time":"2026-03-01T10:00:00Z","data":{"lead_id":"l","tags":["x"]}}';
    expect(validateJson(text, ctx)).toMatchObject({ ok: true, event: { id: 'a-😀-é' } });
  });
});
