import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { runReplay } from '../../cli/replay/run';
import { ndjson, cardScanned, leadTagged, saleRecorded } from '../support/events';
import { REPLAY_NOW, replayText } from '../support/replay';

describe('event-recovery replay: validation and duplicates', () => {
  it('reports invalid lines and duplicates with their line numbers, first arrival winning', async () => {
    const a = cardScanned({ id: 'a', data: { card_id: 'c1' } });
    const text = ndjson(
      a,
      a, // same id
      '',
      'not json',
      cardScanned({ id: 'b', data: { card_id: 'c1', scanned_by: 'u2' } }), // same business key
      leadTagged({ id: 't1' }),
      { ...leadTagged({ id: 't2' }), time: '2026-03-01T11:00:00+01:00' }, // same content, other spelling of the instant
      { ...saleRecorded({ id: 's1' }), data: { order_id: 'o' } },
      saleRecorded({ id: 's2' }),
      cardScanned({ id: 'future', time: '2026-03-01T12:05:01Z', data: { card_id: 'c9' } }),
    );
    const { findings, events, summary } = await replayText(text);
    expect(findings).toEqual([
      { kind: 'duplicate', action: 'dropped', event_id: 'a', type: 'card.scanned', source: '//test/producer', duplicate_of: 'a', basis: 'id', line: 2 },
      { kind: 'invalid', action: 'dropped', reason: 'blank line', line: 3 },
      { kind: 'invalid', action: 'dropped', reason: expect.stringMatching(/not valid JSON/), line: 4 },
      { kind: 'duplicate', action: 'dropped', event_id: 'b', type: 'card.scanned', source: '//test/producer', duplicate_of: 'a', basis: 'business_key', line: 5 },
      { kind: 'duplicate', action: 'dropped', event_id: 't2', type: 'lead.tagged', source: '//test/producer', duplicate_of: 't1', basis: 'content', line: 7 },
      {
        kind: 'invalid',
        action: 'dropped',
        event_id: 's1',
        type: 'sale.recorded',
        source: '//test/producer',
        reason: 'data.line_items: is required; data.amount: is required; data.currency: is required; data.amount_usd: is required',
        line: 8,
      },
      { kind: 'invalid', action: 'dropped', event_id: 'future', type: 'card.scanned', source: '//test/producer', reason: expect.stringMatching(/^time: is more than 5 minutes in the future/), line: 10 },
    ]);
    expect(events.map((e) => e.id)).toEqual(['a', 't1', 's2']);
    expect(summary).toMatchObject({
      lines: 10,
      accepted: 3,
      invalid: 4,
      duplicates: 3,
      gaps: 0,
      missing_events: 0,
      chains_broken: 0,
      corrections: 0,
      review: 0,
      revenue_usd_cents: { recorded: 3500, corrected: 3500 },
    });
    expect(summary.lines).toBe(summary.accepted + summary.invalid + summary.duplicates);
  });

  it('writes accepted events as they came, byte for byte', async () => {
    const line = '{"type":"lead.tagged","specversion":"1.0","id":"x","source":"//s","time":"2026-03-01T10:00:00Z","data":{"tags":["a"],"lead_id":"l"}}';
    const { events, dir } = await replayText(`${line}\r\n`);
    expect(events).toHaveLength(1);
    expect(readFileSync(`${dir}/events.ndjson`, 'utf8')).toBe(`${line}\n`);
  });

  it('writes accepted events byte for byte around dropped lines, across chunks, after the file\'s byte-order mark', async () => {
    const tag = (id: string, tags: string[]) => JSON.stringify(leadTagged({ id, data: { lead_id: `l-${id}`, tags } }));
    const lines = [`\uFEFF${tag('first', ['caf\u00e9'])}`, tag('first', ['dup']), tag('b', ['\u{1F600}']), 'not json', tag('c', ['x']), tag('d', ['y'])];
    const bytes = Buffer.from(`${lines.join('\r\n')}\n`);
    // Cut inside a multi-byte character and inside a CR LF.
    const cuts = [5, bytes.indexOf('\u{1F600}') + 2, bytes.indexOf('\r\n', 200) + 1, bytes.length];
    const chunks = cuts.map((end, i) => bytes.subarray(i === 0 ? 0 : cuts[i - 1], end));
    const dir = mkdtempSync(join(tmpdir(), 'replay-test-'));
    await runReplay({ input: Readable.from(chunks), outDir: dir, now: REPLAY_NOW, env: {}, workers: 0 });
    expect(readFileSync(`${dir}/events.ndjson`, 'utf8')).toBe(`${[lines[0]!.slice(1), lines[2], lines[4], lines[5]].join('\n')}\n`);
  });

  it('an empty input completes with an all-zero summary', async () => {
    const { findings, events, summary } = await replayText('');
    expect(findings).toEqual([]);
    expect(events).toEqual([]);
    expect(summary).toMatchObject({ lines: 0, accepted: 0, invalid: 0, duplicates: 0, pending: 0, revenue_usd_cents: { recorded: 0, corrected: 0 } });
  });

  it('a line over 1 MiB is an invalid finding and the run goes on', async () => {
    const huge = JSON.stringify(leadTagged({ id: 'huge', data: { tags: ['x'.repeat(1024 * 1024)] } }));
    const { findings, events, summary } = await replayText(ndjson(huge, leadTagged({ id: 'ok' })));
    expect(findings).toEqual([{ kind: 'invalid', action: 'dropped', reason: expect.stringMatching(/over the 1 MiB limit/), line: 1 }]);
    expect(events.map((e) => e.id)).toEqual(['ok']);
    expect(summary).toMatchObject({ lines: 2, accepted: 1, invalid: 1 });
  });

  it('is deterministic: the same input and clock give the same bytes', async () => {
    const text = ndjson(cardScanned({ id: 'a' }), cardScanned({ id: 'b' }), 'x');
    const one = await replayText(text);
    const two = await replayText(text);
    expect(two.findings).toEqual(one.findings);
    expect(two.summary).toEqual(one.summary);
  });
});
