import { replayText } from '../support/replay';
import * as fx from '../support/events';

/** Bytes that used to break the replay or pass through altered (issue 13, item 4), end to end. */
describe('replay with hostile lines', () => {
  const valid = (id: string, data: Record<string, unknown> = {}) => JSON.stringify(fx.cardScanned({ id, data: { card_id: `card-${id}`, ...data } }));

  it('a CR-only file is one invalid line whose reason says why', async () => {
    const r = await replayText([valid('a'), valid('b'), valid('c')].join('\r'));
    expect(r.summary).toMatchObject({ lines: 1, accepted: 0, invalid: 1 });
    expect(r.findings[0]!.reason).toMatch(/the line holds 2 carriage returns not followed by a line feed: lines must end with LF or CRLF/);
  });

  it('data nested 3,000 deep is an invalid line; the run completes and judges the next line as before', async () => {
    const deep = `${valid('deep').slice(0, -2)},"deep":${'['.repeat(3000)}${']'.repeat(3000)}}}`;
    const r = await replayText(`${deep}\n${valid('after')}\n`);
    expect(r.summary).toMatchObject({ lines: 2, accepted: 1, invalid: 1 });
    expect(r.findings).toEqual([expect.objectContaining({ kind: 'invalid', event_id: 'deep', line: 1, reason: 'data: nests deeper than 64 levels of objects and arrays' })]);
  });

  it('a line with bytes that are not UTF-8 is invalid; events.ndjson holds only events as they came', async () => {
    const line = Buffer.from(valid('x\u00e9y'));
    const bad = Buffer.from(line);
    bad[bad.indexOf(0xc3)] = 0xff; // é is C3 A9: FF A9 is not UTF-8
    const r = await replayText(Buffer.concat([bad, Buffer.from('\n'), line, Buffer.from('\n')]));
    expect(r.summary).toMatchObject({ lines: 2, accepted: 1, invalid: 1 });
    expect(r.findings[0]).toMatchObject({ kind: 'invalid', line: 1, reason: expect.stringMatching(/^line is not valid UTF-8 \(at byte \d+\)$/) });
    expect(r.events).toEqual([JSON.parse(line.toString())]);
  });

  it('a 400-digit sequence is invalid with a reason; no 1e+400 or null in findings or the summary', async () => {
    const r = await replayText(`${JSON.stringify({ ...fx.cardScanned({ id: 's1' }), sequence: '1' })}\n${JSON.stringify({ ...fx.cardScanned({ id: 's2', data: { card_id: 'c2' } }), sequence: '9'.repeat(400) })}\n`);
    expect(r.summary).toMatchObject({ lines: 2, accepted: 1, invalid: 1, gaps: 0 });
    expect(r.findings[0]).toMatchObject({ kind: 'invalid', event_id: 's2', reason: 'sequence: must be at most 9007199254740991 (2^53-1)' });
  });

  it('year-0000 times a few seconds apart are not content duplicates', async () => {
    const at = (id: string, time: string) => JSON.stringify(fx.leadTagged({ id, time, data: { lead_id: 'l' } }));
    const r = await replayText(`${at('t1', '0000-01-01T00:00:01+01:00')}\n${at('t2', '0000-01-01T00:00:02+01:00')}\n`);
    expect(r.summary).toMatchObject({ accepted: 2, duplicates: 0 });
  });

  it('null optional attributes are absent', async () => {
    const r = await replayText(`${JSON.stringify({ ...fx.cardScanned(), subject: null, sequence: null, correlationid: null })}\n`);
    expect(r.summary).toMatchObject({ accepted: 1, invalid: 0 });
  });
});
