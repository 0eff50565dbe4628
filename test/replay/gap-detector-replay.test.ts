import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DEFAULT_GAP_RULES } from '../../functions/gap-detector/core';
import { cardScanned, crmSynced, followupSent, leadCreated, leadTagged, ndjson } from '../support/events';
import { readOutputs, replayText } from '../support/replay';

const at = (minutes: number) => new Date(Date.parse('2026-03-01T10:00:00Z') + minutes * 60_000).toISOString();
const tagged = (id: string, sequence: number, minutes: number, source = '//hub') =>
  leadTagged({ id, source, sequence: String(sequence), time: at(minutes), data: { lead_id: `lead-${id}` } });

describe('event-recovery replay: missing events', () => {
  it('reports gaps once, late arrivals after the report, broken chains with their line, and counts what is pending', async () => {
    const text = ndjson(
      tagged('h1', 1, 0), // 1
      tagged('h3', 3, 0.5), // 2: reveals 2, due after 5.5
      cardScanned({ id: 'c1', source: '//scanner', time: at(1), data: { card_id: 'card-1' } }), // 3: due after 11
      cardScanned({ id: 'c2', source: '//scanner', time: at(1), data: { card_id: 'card-2' } }), // 4
      leadCreated({ id: 'l2', source: '//crm', time: at(2), data: { lead_id: 'lead-2', card_id: 'card-2' } }), // 5: satisfies c2, waits 15
      tagged('h3', 3, 0.5), // 6: a duplicate by id: still number 3, nothing new
      tagged('h6', 6, 3), // 7: reveals 4..5, due after 8
      tagged('h5', 5, 4), // 8: fills 5 within grace
      tagged('x1', 7, 6), // 9: watermark 6: 2 is due (5.5 < 6)
      tagged('h2', 2, 1), // 10: late
      crmSynced({ id: 's2', source: '//crm', time: at(9), data: { lead_id: 'lead-2' } }), // 11: satisfies l2, waits 60
      tagged('x2', 8, 12), // 12: watermark 12: 4 (due 8) and c1 (due 11)
      followupSent({ id: 'f9', source: '//fu', time: at(12), data: { lead_id: 'lead-9' } }), // 13: a successor first…
      crmSynced({ id: 's9', source: '//crm', time: at(3), data: { lead_id: 'lead-9' } }), // 14: …satisfies its predecessor
      tagged('x3', 100, 20), // 15: reveals 9..99, still open at the end
    );
    const { findings, summary } = await replayText(text);
    expect(findings).toEqual([
      { kind: 'duplicate', action: 'dropped', event_id: 'h3', type: 'lead.tagged', source: '//hub', duplicate_of: 'h3', basis: 'id', line: 6 },
      { kind: 'gap', action: 'reported', source: '//hub', from_sequence: 2, to_sequence: 2 },
      { kind: 'late', action: 'reported', event_id: 'h2', type: 'lead.tagged', source: '//hub', closes: 'gap', line: 10 },
      { kind: 'gap', action: 'reported', source: '//hub', from_sequence: 4, to_sequence: 4 },
      { kind: 'chain_broken', action: 'reported', event_id: 'c1', type: 'card.scanned', source: '//scanner', line: 3, expected_type: 'lead.created' },
    ]);
    expect(summary).toMatchObject({
      lines: 15,
      accepted: 14,
      duplicates: 1,
      gaps: 2,
      missing_events: 2,
      late: 1,
      chains_broken: 1,
      // 9..99 is open; s2 waits for its follow-up until 69.
      pending: 2,
    });
  });

  it('at the end of input reports what is due by the final watermark, and counts the rest', async () => {
    const text = ndjson(
      tagged('a1', 1, 0),
      cardScanned({ id: 'c1', time: at(0), data: { card_id: 'card-1' } }),
      tagged('b1', 1, 30, '//other'), // watermark 30: c1 is due
      tagged('a4', 4, 1), // an old event reveals 2..3, due after 6: already past, reported at once
      cardScanned({ id: 'c2', time: at(2), data: { card_id: 'card-2' } }), // old too: due after 12, reported at once
      tagged('b3', 3, 30, '//other'), // reveals 2, due after 35: pending
    );
    const { findings, summary } = await replayText(text);
    expect(findings).toEqual([
      { kind: 'chain_broken', action: 'reported', event_id: 'c1', type: 'card.scanned', source: '//test/producer', line: 2, expected_type: 'lead.created' },
      { kind: 'gap', action: 'reported', source: '//hub', from_sequence: 2, to_sequence: 3 },
      { kind: 'chain_broken', action: 'reported', event_id: 'c2', type: 'card.scanned', source: '//test/producer', line: 5, expected_type: 'lead.created' },
    ]);
    expect(summary).toMatchObject({ gaps: 1, missing_events: 2, chains_broken: 2, pending: 1 });
  });

  it('a gap or chain already overdue when it opens is reported at once, so what fills it next is late', async () => {
    const text = ndjson(
      tagged('a1', 1, 0),
      tagged('w', 1, 30, '//other'), // watermark 30
      tagged('a3', 3, 1), // reveals 2, due after 6 < 30: reported now
      tagged('a2', 2, 1), // fills it before any advance: late, not silent
      cardScanned({ id: 'c1', time: at(2), data: { card_id: 'card-1' } }), // due after 12 < 30: broken now
      leadCreated({ id: 'l1', time: at(3), data: { card_id: 'card-1' } }), // closes c1 late, and is overdue for its own CRM sync
    );
    const { findings, summary } = await replayText(text);
    expect(findings).toEqual([
      { kind: 'gap', action: 'reported', source: '//hub', from_sequence: 2, to_sequence: 2 },
      { kind: 'late', action: 'reported', event_id: 'a2', type: 'lead.tagged', source: '//hub', closes: 'gap', line: 4 },
      { kind: 'chain_broken', action: 'reported', event_id: 'c1', type: 'card.scanned', source: '//test/producer', line: 5, expected_type: 'lead.created' },
      { kind: 'late', action: 'reported', event_id: 'l1', type: 'lead.created', source: '//test/producer', closes: 'chain_broken', upstream_id: 'c1', line: 6 },
      { kind: 'chain_broken', action: 'reported', event_id: 'l1', type: 'lead.created', source: '//test/producer', line: 6, expected_type: 'crm.synced' },
    ]);
    expect(summary).toMatchObject({ gaps: 1, late: 2, chains_broken: 2, pending: 0 });
  });

  it('a successor delivered after its upstream was reported broken closes that chain late, with its line; the summary counts it in late', async () => {
    const text = ndjson(
      cardScanned({ id: 'c1', source: '//scanner', time: at(0), data: { card_id: 'card-1' } }), // 1: waits for its lead until 10
      tagged('w', 1, 30), // 2: watermark 30: c1 is reported broken
      leadCreated({ id: 'l1', source: '//crm', time: at(2), data: { card_id: 'card-1', lead_id: 'lead-1' } }), // 3: closes c1 late; its own sync was due at 17
      crmSynced({ id: 's1', source: '//crm', time: at(31), data: { lead_id: 'lead-1' } }), // 4: closes l1 late; waits for its follow-up until 91
    );
    const { findings, summary } = await replayText(text);
    expect(findings).toEqual([
      { kind: 'chain_broken', action: 'reported', event_id: 'c1', type: 'card.scanned', source: '//scanner', line: 1, expected_type: 'lead.created' },
      { kind: 'late', action: 'reported', event_id: 'l1', type: 'lead.created', source: '//crm', closes: 'chain_broken', upstream_id: 'c1', line: 3 },
      { kind: 'chain_broken', action: 'reported', event_id: 'l1', type: 'lead.created', source: '//crm', line: 3, expected_type: 'crm.synced' },
      { kind: 'late', action: 'reported', event_id: 's1', type: 'crm.synced', source: '//crm', closes: 'chain_broken', upstream_id: 'l1', line: 4 },
    ]);
    expect(summary).toMatchObject({ chains_broken: 2, late: 2, gaps: 0, pending: 1, findings_by_kind: { chain_broken: 2, late: 2 } });
  });

  it('counts the missing numbers of a huge jump without holding them (with the bound on jumps above it)', async () => {
    const gapRules = { ...DEFAULT_GAP_RULES, maxSequenceJump: 2_000_000_000 };
    const { findings, summary } = await replayText(ndjson(tagged('a', 5, 0), tagged('b', 1_000_000_005, 0), tagged('c', 1_000_000_006, 30)), { gapRules });
    expect(findings).toEqual([{ kind: 'gap', action: 'reported', source: '//hub', from_sequence: 6, to_sequence: 1_000_000_004 }]);
    expect(summary).toMatchObject({ gaps: 1, missing_events: 999_999_999, pending: 0 });
  });

  it('a producer-numbered duplicate still uses its number; a dropped duplicate opens no chain', async () => {
    const scan = cardScanned({ id: 'c1', sequence: '2', time: at(0), data: { card_id: 'card-1' } });
    const text = ndjson(
      cardScanned({ id: 'c0', sequence: '1', time: at(0), data: { card_id: 'card-0' } }),
      scan,
      { ...scan, id: 'c1-again', sequence: '3' }, // the same card again: a business-key duplicate with its own number
      leadCreated({ id: 'l0', time: at(1), data: { card_id: 'card-0', lead_id: 'lead-0' } }),
      leadCreated({ id: 'l1', time: at(1), data: { card_id: 'card-1', lead_id: 'lead-1' } }),
      cardScanned({ id: 'c9', sequence: '4', time: at(30), data: { card_id: 'card-9' } }),
    );
    const { findings, summary } = await replayText(text, { gapRules: { ...DEFAULT_GAP_RULES, chainDeadlinesMs: { ...DEFAULT_GAP_RULES.chainDeadlinesMs, 'lead.created': 60 * 60_000 } } });
    expect(findings).toEqual([
      { kind: 'duplicate', action: 'dropped', event_id: 'c1-again', type: 'card.scanned', source: '//test/producer', duplicate_of: 'c1', basis: 'business_key', line: 3 },
    ]);
    expect(summary).toMatchObject({ gaps: 0, chains_broken: 0, pending: 3 });
  });
});

describe('event-recovery replay: the grace period and chain deadlines are options', () => {
  const CLI = resolve(__dirname, '../../dist/cli/event-recovery.js');
  const run = (args: string[], input: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'gap-cli-'));
    writeFileSync(join(dir, 'in.ndjson'), input);
    const r = spawnSync(process.execPath, [CLI, 'replay', join(dir, 'in.ndjson'), '--out', join(dir, 'out'), '--now', '2026-03-02T00:00:00Z', '--quiet', ...args], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    return { code: r.status, stderr: r.stderr, out: join(dir, 'out') };
  };
  const log = ndjson(tagged('a1', 1, 0), tagged('a3', 3, 0), cardScanned({ id: 'c1', time: at(0) }), tagged('a4', 4, 3));

  beforeAll(() => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build (npm ci does it)`);
  });

  it('--grace-minutes and --chain-deadlines shorten the waits', () => {
    const r = run(['--grace-minutes', '2', '--chain-deadlines', '1,15,60'], log);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(readOutputs(r.out).findings.map((f) => f.kind)).toEqual(['chain_broken', 'gap']); // due after 1 and 2 minutes
    expect(readOutputs(run([], log).out).findings).toEqual([]);
  });

  it.each([
    [['--grace-minutes', '0'], /--grace-minutes must be a positive number/],
    [['--chain-deadlines', '10,15'], /--chain-deadlines must be three positive numbers/],
  ])('%j is a usage error (exit 2)', (args, message) => {
    const r = run(args, log);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});
