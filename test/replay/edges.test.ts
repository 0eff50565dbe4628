import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ensureBuilt } from '../support/build';
import * as fx from '../support/events';

/**
 * Issue 20's edges through the built command, with its worker threads (where the rules run in
 * replay): what a producer's bytes can make ambiguous must come out as one invalid finding that
 * says why, and must not reach events.ndjson.
 */
const CLI = process.env.EDGES_CLI ?? resolve(__dirname, '../../dist/cli/event-recovery.js');

function replay(lines: string[], workers = '1', extra: string[] = []): { findings: Array<Record<string, unknown>>; events: Array<Record<string, unknown>>; summary: Record<string, unknown> } {
  const dir = mkdtempSync(join(tmpdir(), 'edges-'));
  const input = join(dir, 'in.ndjson');
  writeFileSync(input, `${lines.join('\n')}\n`);
  const r = spawnSync(process.execPath, [CLI, 'replay', input, '--out', join(dir, 'out'), '--now', '2026-03-01T12:00:00Z', '--quiet', '--workers', workers, ...extra], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`replay exited ${r.status}: ${r.stderr}`);
  const read = (f: string) => readFileSync(join(dir, 'out', f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { findings: read('findings.ndjson'), events: read('events.ndjson'), summary: JSON.parse(readFileSync(join(dir, 'out', 'summary.json'), 'utf8')) as Record<string, unknown> };
}

beforeAll(() => {
  if (process.env.EDGES_CLI === undefined) ensureBuilt();
});

describe('business keys after Unicode NFC normalisation in replay', () => {
  it('a card_id in NFD is the same key as in NFC: a duplicate, and the chain it opened is satisfied by the NFC lead', () => {
    const composed = 'card-caf\u00e9';
    const decomposed = 'card-cafe\u0301';
    const lines = [
      JSON.stringify(fx.cardScanned({ id: 'scan-1', time: '2026-03-01T10:00:00Z', data: { card_id: decomposed } })),
      JSON.stringify(fx.cardScanned({ id: 'scan-2', time: '2026-03-01T10:01:00Z', data: { card_id: composed } })),
      JSON.stringify(fx.leadCreated({ id: 'lead-1', time: '2026-03-01T10:02:00Z', data: { card_id: composed, lead_id: 'lead-1' } })),
      JSON.stringify(fx.crmSynced({ id: 'crm-1', time: '2026-03-01T10:03:00Z', data: { lead_id: 'lead-1' } })),
      JSON.stringify(fx.followupSent({ id: 'f-1', time: '2026-03-01T10:04:00Z', data: { lead_id: 'lead-1' } })),
      JSON.stringify(fx.leadTagged({ id: 'later', time: '2026-03-01T12:00:00Z' })),
    ];
    for (const workers of ['1', '0']) {
      const { findings } = replay(lines, workers);
      expect(findings).toEqual([expect.objectContaining({ kind: 'duplicate', event_id: 'scan-2', duplicate_of: 'scan-1', basis: 'business_key', line: 2 })]);
    }
  });
});

describe('CloudEvents edges in replay', () => {
  const tagged = (id: string, extra: Record<string, unknown> = {}) => JSON.stringify(fx.leadTagged({ id, time: '2026-03-01T10:00:00Z', data: { lead_id: `lead-${id}`, tags: ['x'] }, ...extra }));
  it('accepts data_base64 (the line as it came), rejects both data and data_base64, a BOM inside the file and a second 60 without a leap second', () => {
    const base64 = tagged('b64').replace(/"data":\{[^}]*\}/, `"data_base64":"${Buffer.from('{"lead_id":"lead-b64","tags":["x"]}').toString('base64')}"`);
    const lines = [
      `\uFEFF${tagged('first')}`, // the file's own byte-order mark: stripped
      base64,
      base64.replace('"data_base64"', '"data":{"lead_id":"x","tags":["y"]},"data_base64"').replace('"b64"', '"both"'),
      `\uFEFF${tagged('bom')}`,
      tagged('leap', { time: '2026-02-28T23:59:60Z' }),
    ];
    const { findings, events } = replay(lines);
    expect(events.map((e) => e.id)).toEqual(['first', 'b64']);
    expect(events[1]).toHaveProperty('data_base64');
    expect(findings.map((f) => [f.line, f.kind, f.reason])).toEqual([
      [3, 'invalid', 'has both data and data_base64: a CloudEvent carries one or the other (CloudEvents JSON format §3.1.1)'],
      [4, 'invalid', 'starts with a byte-order mark (U+FEFF): a JSON text sent over a network must not (RFC 8259 §8.1)'],
      [5, 'invalid', expect.stringMatching(/^time: has second 60, which RFC 3339 §5.7 allows only for a leap second/)],
    ]);
  });
});

describe('one wild sequence number in replay', () => {
  it('1-5, then 2^53-1, then 6-200: one sequence_jump finding, no gap, nothing late, nothing pending', () => {
    const tagged = (id: string, n: number | string, second: number) => JSON.stringify(fx.leadTagged({ id, source: '//hub', sequence: String(n), time: new Date(Date.parse('2026-03-01T10:00:00Z') + second * 1000).toISOString() }));
    const lines = [
      ...Array.from({ length: 5 }, (_, i) => tagged(`n${i + 1}`, i + 1, i)),
      tagged('wild', '9007199254740991', 5),
      ...Array.from({ length: 195 }, (_, i) => tagged(`n${i + 6}`, i + 6, 6 + i)),
      JSON.stringify(fx.leadTagged({ id: 'later', source: '//other', time: '2026-03-01T11:00:00Z' })), // the watermark moves past every grace period
    ];
    const { findings, summary } = replay(lines);
    expect(findings).toEqual([
      {
        kind: 'sequence_jump',
        action: 'review',
        event_id: 'wild',
        type: 'lead.tagged',
        source: '//hub',
        line: 6,
        from_sequence: 5,
        to_sequence: 9007199254740991,
        reason: "sequence number 9007199254740991 is 9007199254740986 away from 5, the nearest number seen from this source (more than the bound of 1000000): a sequence reset or a bad number; the source's later numbers are judged from where they continue",
      },
    ]);
    expect(summary).toMatchObject({ gaps: 0, missing_events: 0, late: 0, pending: 0, review: 1 });
  });
});

describe('--max-sequence-jump', () => {
  const tagged = (id: string, n: number) => JSON.stringify(fx.leadTagged({ id, source: '//hub', sequence: String(n), time: `2026-03-01T10:00:${String(n).padStart(2, '0')}Z` }));
  it('sets the bound: 1 then 20 is a gap by default, a sequence_jump beyond 10', () => {
    expect(replay([tagged('a', 1), tagged('b', 20)], '0').summary).toMatchObject({ pending: 1, review: 0 });
    expect(replay([tagged('a', 1), tagged('b', 20)], '0', ['--max-sequence-jump', '10']).findings).toEqual([expect.objectContaining({ kind: 'sequence_jump', event_id: 'b', from_sequence: 1, to_sequence: 20 })]);
  });

  it('refuses a bound that is not a whole number of at least 1, in one line, exit 2', () => {
    const r = spawnSync(process.execPath, [CLI, 'replay', '-', '--max-sequence-jump', '0', '--quiet'], { input: '', encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('event-recovery: --max-sequence-jump must be a whole number of at least 1\n');
    expect(r.status).toBe(2);
  });
});

describe('duplicate JSON keys in replay', () => {
  const sale = JSON.stringify(fx.saleRecorded({ id: 's-1', time: '2026-03-01T10:00:00Z' }));
  it.each(['1', '0'])('reports each as invalid with the key named, and keeps it out of events.ndjson (workers %s)', (workers) => {
    const lines = [
      `{"type":"lead.deleted",${sale.slice(1)}`,
      sale.replace('"id":"s-1"', '"id":"s-2","id":"s-3"'),
      sale.replace('"id":"s-1"', '"id":"s-4"').replace('"time":"2026-03-01T10:00:00Z"', '"time":"2099-01-01T00:00:00Z","time":"2026-03-01T10:00:00Z"'),
      sale.replace('"id":"s-1"', '"id":"s-5"').replace('"amount":', '"amount":1,"amount":'),
    ];
    const { findings, events } = replay(lines, workers);
    expect(findings.map((f) => [f.kind, f.line, f.event_id, (f.reason as string).split(':')[0]])).toEqual([
      ['invalid', 1, 's-1', 'type'],
      ['invalid', 2, undefined, 'id'],
      ['invalid', 3, 's-4', 'time'],
      ['invalid', 4, 's-5', 'data.amount'],
    ]);
    for (const f of findings) expect(f.reason).toMatch(/^[\w.]+: appears more than once in one object \(a duplicate JSON key/);
    expect(events).toEqual([]);
  });
});
