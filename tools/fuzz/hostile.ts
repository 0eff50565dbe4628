import { prng } from '../../cli/generate/log';

/**
 * Hostile input lines for the replay and the validator (issue 13): truncations, wrong types for
 * every field, huge and non-integer numbers, numbers as strings, `__proto__`/`constructor` keys,
 * deep nesting, over-long ids, bytes that are not UTF-8, NUL bytes, lone surrogates, odd time
 * offsets and leap seconds, lines over 1 MiB, stray carriage returns. Deterministic per seed.
 *
 * Interleaved with them are **probes**: valid events in a namespace of their own (source
 * `//probe`, ids `probe-…`, keys `probe-…`) whose judgement must not depend on anything hostile
 * that came before them.
 */

export const PROBE_SOURCE = '//probe';
export const PROBE_TIME = '2026-03-01T10:00:00Z';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Random = () => number;

const TYPES = ['card.scanned', 'lead.created', 'crm.synced', 'lead.tagged', 'followup.sent', 'call.completed', 'sale.recorded', 'discount.issued'] as const;

function pick<T>(r: Random, items: readonly T[]): T {
  return items[Math.floor(r() * items.length)]!;
}

function int(r: Random, lo: number, hi: number): number {
  return lo + Math.floor(r() * (hi - lo + 1));
}

/** A valid `data` of each type; `tag` keeps ids and business keys apart between hostile lines and probes. */
function dataOf(type: (typeof TYPES)[number], tag: string, r: Random): Record<string, Json> {
  switch (type) {
    case 'card.scanned':
      return { card_id: `${tag}card`, scanned_by: 'u1', contact: { name: 'Ada', email: 'ada@example.com' } };
    case 'lead.created':
      return { lead_id: `${tag}lead`, card_id: `${tag}card`, owner_id: 'o1' };
    case 'crm.synced':
      return { lead_id: `${tag}lead`, crm: 'hubspot', crm_record_id: 'hs1' };
    case 'lead.tagged':
      return { lead_id: `${tag}lead`, tags: ['vip'] };
    case 'followup.sent':
      return { lead_id: `${tag}lead`, channel: 'email', template: 'welcome', message_id: 'm1' };
    case 'call.completed':
      return {
        call_sid: `CA${Array.from({ length: 32 }, () => '0123456789abcdef'[int(r, 0, 15)]).join('')}`,
        from: '+14155550100',
        to: '+14155550101',
        duration_seconds: int(r, 0, 600),
        started_at: '2026-03-01T09:59:00Z',
      };
    case 'sale.recorded': {
      const unit = int(r, 1, 5000);
      const qty = int(r, 1, 3);
      return { order_id: `${tag}order`, line_items: [{ sku: 'sku', unit_amount: unit, quantity: qty }], amount: unit * qty, currency: 'USD', amount_usd: unit * qty };
    }
    case 'discount.issued':
      return { user_id: `${tag}user`, program: 'spring', code: 'S10' };
  }
}

function validEvent(r: Random, n: number, source = '//fuzz/producer'): Record<string, Json> {
  const type = pick(r, TYPES);
  const tag = `f${n}-`;
  return { specversion: '1.0', id: `fuzz-${n}`, source, type, time: '2026-03-01T09:00:00Z', data: dataOf(type, tag, r) };
}

/** A valid probe event: its own source, ids and keys. */
export function probe(n: number, r: Random = prng(n)): Record<string, Json> {
  const type = pick(r, TYPES.filter((t) => t !== 'call.completed'));
  return { specversion: '1.0', id: `probe-${n}`, source: PROBE_SOURCE, type, time: PROBE_TIME, data: dataOf(type, `probe-${n}-`, r) };
}

const WRONG_VALUES: readonly Json[] = [null, true, false, 0, -1, 1.5, 1e308, -0, '', ' ', '0', '100', '1e3', 'NaN', [], [1, 'a'], {}, { a: 1 }, 'x'.repeat(300)];
const HUGE_NUMBERS = ['1e400', '-1e400', '123456789012345678901234567890', '9007199254740993', '1.0000000000000002', '0.1', '-0', '1E+2', '4.9e-324', `1${'0'.repeat(400)}`];
const ODD_TIMES = [
  '2026-03-01T10:00:00+23:59',
  '2026-03-01T10:00:00-23:59',
  '2026-03-01T10:00:00+24:00',
  '2026-03-01T10:00:00-00:00',
  '2026-03-01T10:00:00+00:60',
  '2026-03-01T23:59:60Z',
  '2016-12-31T23:59:60Z',
  '2026-03-01T10:00:60+05:30',
  '0000-01-01T00:00:00+01:00',
  '0000-01-01T00:00:00-14:00',
  '9999-12-31T23:59:59-23:59',
  '2026-03-01t10:00:00z',
  '2026-03-01T10:00:00.1234567891Z',
  '2026-03-01T10:00:00.000000001+00:00',
  '2026-02-29T10:00:00Z',
  '2024-02-29T10:00:00Z',
  '2026-03-01T10:00Z',
  '2026-03-01T10:00:00',
  '2026-03-01 10:00:00Z',
  '+002026-03-01T10:00:00Z',
  '2026-03-01T10:00:00+0100',
  '2026-03-01T10:00:00Z ',
  '２０２６-03-01T10:00:00Z',
  '2099-01-01T00:00:00Z',
];
const ODD_KEYS = ['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', '__defineGetter__', 'valueOf'];

/** Paths of every field the contract names, envelope and data, for wrong-type mutations. */
function fieldPaths(event: Record<string, Json>): string[][] {
  const paths: string[][] = [];
  for (const k of Object.keys(event)) {
    paths.push([k]);
    const v = event[k];
    if (v && typeof v === 'object' && !Array.isArray(v)) for (const d of Object.keys(v)) paths.push([k, d]);
  }
  return paths;
}

function setPath(obj: Record<string, Json>, path: string[], value: Json): void {
  let at: Record<string, Json> = obj;
  for (const p of path.slice(0, -1)) {
    const next = at[p];
    if (!next || typeof next !== 'object' || Array.isArray(next)) return;
    at = next;
  }
  at[path[path.length - 1]!] = value;
}

function nest(levels: number, r: Random): string {
  const open: string[] = [];
  for (let i = 0; i < levels; i++) open.push(r() < 0.5 ? '[' : '{"k":');
  return `${open.join('')}0${open
    .reverse()
    .map((o) => (o === '[' ? ']' : '}'))
    .join('')}`;
}

/** Inserts `raw` JSON text as the value of a new key of `data` in a serialized event. */
function withDataValue(event: Record<string, Json>, key: string, raw: string): string {
  const text = JSON.stringify(event);
  const at = text.indexOf('"data":{') + '"data":{'.length;
  return `${text.slice(0, at)}${JSON.stringify(key)}:${raw},${text.slice(at)}`;
}

/** One hostile line (without its newline); `n` numbers it for unique ids. */
export function hostileLine(r: Random, n: number): Buffer {
  const base = validEvent(r, n);
  const kind = int(r, 0, 17);
  switch (kind) {
    case 0: {
      // Truncated anywhere.
      const text = Buffer.from(JSON.stringify(base));
      return text.subarray(0, int(r, 0, text.length - 1));
    }
    case 1: {
      // A wrong type for one field of the envelope or the data.
      const e = structuredClone(base);
      setPath(e, pick(r, fieldPaths(e)), pick(r, WRONG_VALUES));
      return Buffer.from(JSON.stringify(e));
    }
    case 2: {
      // Huge, non-integer or exotic numbers, raw in the JSON text, for a numeric field or the sequence.
      const text = JSON.stringify({ ...base, type: 'sale.recorded', data: dataOf('sale.recorded', `f${n}-`, r) });
      const field = pick(r, ['amount', 'amount_usd', 'unit_amount', 'quantity', 'fx_rate']);
      const number = pick(r, HUGE_NUMBERS);
      return Buffer.from(field === 'fx_rate' ? text.replace('"currency"', `"fx_rate":${number},"currency"`) : text.replace(new RegExp(`"${field}":\\d+`), `"${field}":${number}`));
    }
    case 3: {
      // Numbers as strings, strings as numbers.
      const e = { ...base, type: 'sale.recorded', data: dataOf('sale.recorded', `f${n}-`, r) } as Record<string, Json>;
      const d = e.data as Record<string, Json>;
      d.amount = String(d.amount);
      if (r() < 0.5) e.sequence = int(r, 0, 1000);
      return Buffer.from(JSON.stringify(e));
    }
    case 4: {
      // Prototype-polluting keys, at the top and inside data, as raw JSON (JSON.stringify would drop some).
      const key = pick(r, ODD_KEYS);
      const value = pick(r, ['{"polluted":true}', '{"prototype":{"polluted":true}}', '"x"', '1', 'null', '[]']);
      const text = JSON.stringify(base);
      return Buffer.from(r() < 0.5 ? `{${JSON.stringify(key)}:${value},${text.slice(1)}` : withDataValue(base, key, value));
    }
    case 5:
      // Deep nesting, from just under the limit to far past the stack.
      return Buffer.from(withDataValue(base, 'deep', nest(pick(r, [60, 63, 64, 65, 100, 1000, 3000, 5000]), r)));
    case 6: {
      // Over-long ids, sources, subjects.
      const field = pick(r, ['id', 'source', 'subject', 'correlationid', 'correctionof']);
      return Buffer.from(JSON.stringify({ ...base, [field]: `${field === 'source' ? '//' : ''}${'i'.repeat(pick(r, [256, 257, 1000, 10_000]))}` }));
    }
    case 7: {
      // Bytes that are not UTF-8 inside a string.
      const text = JSON.stringify({ ...base, id: `fuzz-${n}-XX` });
      const at = text.indexOf('XX');
      const bad = pick(r, [[0xff], [0xc3, 0x28], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xc0, 0xaf], [0x80]]);
      return Buffer.concat([Buffer.from(text.slice(0, at)), Buffer.from(bad), Buffer.from(text.slice(at + 2))]);
    }
    case 8: {
      // NUL bytes: raw (not JSON), escaped (valid JSON), at odd places.
      const text = JSON.stringify({ ...base, id: `fuzz-${n}-\u0000-nul` });
      return r() < 0.5 ? Buffer.from(text.replace('\\u0000', '\u0000')) : r() < 0.5 ? Buffer.from(text) : Buffer.from(`\u0000${text}`);
    }
    case 9: {
      // Lone surrogates, escaped and as CESU-8 bytes.
      const text = JSON.stringify({ ...base, id: `fuzz-${n}-SURR` });
      return r() < 0.7 ? Buffer.from(text.replace('SURR', pick(r, ['\\ud800', '\\udfff', '\\ud83d', '\\ude00\\ud83d', '\\ud83d\\ude00']))) : Buffer.concat([Buffer.from(text.slice(0, text.indexOf('SURR'))), Buffer.from([0xed, 0xb0, 0x80]), Buffer.from(text.slice(text.indexOf('SURR') + 4))]);
    }
    case 10:
      // Odd time offsets, leap seconds, year 0000 and 9999, the future.
      return Buffer.from(JSON.stringify({ ...base, time: pick(r, ODD_TIMES) }));
    case 11:
      // A sequence of absurd length or form.
      return Buffer.from(JSON.stringify({ ...base, sequence: pick(r, ['9'.repeat(int(r, 17, 400)), '-1', '1.5', '', ' 1', '0x10', '１', '00000000000000000000001', String(Number.MAX_SAFE_INTEGER)]) }));
    case 12: {
      // Bytes that are not JSON at all.
      const len = int(r, 1, 200);
      return Buffer.from(Array.from({ length: len }, () => int(r, 0, 255)).filter((b) => b !== 10));
    }
    case 13:
      // Blank, whitespace, stray carriage returns, a byte-order mark mid-file.
      return Buffer.from(pick(r, ['', ' ', '\t', '\r', '\r\r', '\uFEFF', `\uFEFF${JSON.stringify(base)}`, JSON.stringify(base).replace(',', ',\r'), 'null', '[]', '""', '0', 'true', '{}']));
    case 14:
      // Every attribute null, or a required one missing.
      return Buffer.from(JSON.stringify({ ...base, [pick(r, ['id', 'source', 'type', 'time', 'specversion', 'data', 'subject', 'sequence'])]: r() < 0.5 ? null : undefined }));
    case 15:
      // Duplicate keys: the last one wins in JSON.parse.
      return Buffer.from(`{"id":"first-${n}",${JSON.stringify(base).slice(1).replace(/}$/, `,"id":"fuzz-dup-${n}"}`)}`);
    case 16:
      // A valid event with odd but legal content: unicode, escapes, extensions, null optionals.
      return Buffer.from(JSON.stringify({ ...base, id: `fuzz-${n}-ü-😀-\u2028`, subject: null, correlationid: null, ext: { a: [1, { b: null }] }, data: { ...(base.data as Record<string, Json>), note: '\u0000\t"\\' } }));
    default:
      // Unknown types and specversions.
      return Buffer.from(JSON.stringify({ ...base, [pick(r, ['type', 'specversion'])]: pick(r, ['card.burned', '0.3', '1', 'CARD.SCANNED', ' card.scanned']) }));
  }
}

export interface FuzzPlan {
  readonly lines: number;
  /** One probe every `probeEvery` lines. */
  readonly probeEvery: number;
  /** How many lines over 1 MiB, spread through the file. */
  readonly oversized: number;
}

/**
 * The lines of one fuzz run, as NDJSON chunks: hostile lines, probes, and a few lines over
 * 1 MiB. `probes` lists the 1-based line numbers of the probes in the order written.
 */
export function* fuzzChunks(seed: number, plan: FuzzPlan, probes: number[] = []): Generator<Buffer> {
  const r = prng(seed);
  const bigEvery = plan.oversized > 0 ? Math.floor(plan.lines / (plan.oversized + 1)) : Number.POSITIVE_INFINITY;
  let chunk: Buffer[] = [];
  let bytes = 0;
  for (let line = 1; line <= plan.lines; line++) {
    let b: Buffer;
    if (line % plan.probeEvery === 0) {
      b = Buffer.from(JSON.stringify(probe(line)));
      probes.push(line);
    } else if (line % bigEvery === 0) {
      // Over 1 MiB: a long string value, or padding that would be valid JSON whitespace.
      const size = (1 << 20) + int(r, 1, 4096);
      b = r() < 0.5 ? Buffer.from(JSON.stringify({ ...validEvent(r, line), id: 'x'.repeat(size) })) : Buffer.from(`${' '.repeat(size)}${JSON.stringify(validEvent(r, line))}`);
    } else {
      b = hostileLine(r, line);
    }
    chunk.push(b, NEWLINE);
    bytes += b.length + 1;
    if (bytes >= 1 << 20) {
      yield Buffer.concat(chunk);
      chunk = [];
      bytes = 0;
    }
  }
  if (chunk.length > 0) yield Buffer.concat(chunk);
}

const NEWLINE = Buffer.from('\n');

/** The probes alone, in the same order and at the same positions of a clean file of the same length. */
export function* probeChunks(plan: FuzzPlan): Generator<Buffer> {
  const lines: string[] = [];
  for (let line = plan.probeEvery; line <= plan.lines; line += plan.probeEvery) lines.push(JSON.stringify(probe(line)));
  yield Buffer.from(`${lines.join('\n')}\n`);
}
