import { BusinessEvent } from '../../shared/events/envelope';
import type { Finding } from '../../shared/findings';
import {
  DEFAULT_GAP_RULES,
  GapDetectorCore,
  lateFinding,
  overdueFinding,
  type GapRules,
  type SequenceOutcome,
} from '../../functions/gap-detector/core';
import * as fx from '../support/events';

const T0 = Date.parse('2026-03-01T10:00:00Z');
const MIN = 60_000;
const at = (minutes: number) => new Date(T0 + minutes * MIN).toISOString();

type Raw = ReturnType<typeof fx.leadTagged>;

/**
 * Drives the core the way the replay engine does (DESIGN §7, watermark first): for each valid
 * event the watermark moves to its time if later and whatever fell due is reported, then its
 * sequence number counts, then (if accepted) its chains.
 */
class Given {
  readonly core: GapDetectorCore;
  private watermark = Number.NEGATIVE_INFINITY;
  private arrival = 0;

  constructor(rules: GapRules = DEFAULT_GAP_RULES) {
    this.core = new GapDetectorCore(rules);
  }

  /** Feeds events; returns every finding they caused, in order. */
  events(...raws: Raw[]): Finding[] {
    return raws.flatMap((raw) => this.event(raw).findings);
  }

  /** One event, accepted unless `duplicate`: the findings it caused and what its number did. */
  event(raw: Raw, options: { duplicate?: boolean } = {}): { findings: Finding[]; sequence: SequenceOutcome | undefined } {
    const event = BusinessEvent.parse(raw);
    const timeMs = Date.parse(event.time);
    const findings: Finding[] = [];
    if (timeMs > this.watermark) findings.push(...this.advance(timeMs));
    const order = ++this.arrival;
    let sequence: SequenceOutcome | undefined;
    if (event.sequence !== undefined) {
      sequence = this.core.observeSequence(event.source, BigInt(event.sequence), timeMs, order);
      if (sequence === 'late') findings.push(lateFinding(event));
    }
    if (!options.duplicate) this.core.observeChain(event, timeMs, order, order);
    return { findings, sequence };
  }

  /** The watermark moves on (another source's event, or the end of input). */
  advance(timeMs: number): Finding[] {
    this.watermark = Math.max(this.watermark, timeMs);
    return this.core.overdue(this.watermark).map(overdueFinding);
  }

  at(minutes: number): Finding[] {
    return this.advance(T0 + minutes * MIN);
  }
}

/** An event of source `s` with sequence number `n` at `minutes` after T0. */
const seq = (s: string, n: string | number, minutes: number, id = `${s}-${n}-${minutes}`) =>
  fx.leadTagged({ id, source: s, sequence: String(n), time: at(minutes) });
const gap = (source: string, from: number, to: number): Finding => ({ kind: 'gap', action: 'reported', source, from_sequence: from, to_sequence: to });
const late = (e: Raw): Finding => ({ kind: 'late', action: 'reported', event_id: e.id, type: e.type, source: e.source });

describe('sequence gaps (DESIGN §3): given earlier numbers, when one more arrives', () => {
  it('the first number of a source reveals nothing, even from the middle of a stream', () => {
    const g = new Given();
    expect(g.event(seq('//a', 1000, 0)).sequence).toBe('first');
    expect(g.event(seq('//a', 1001, 1)).sequence).toBe('extended');
    expect(g.at(60)).toEqual([]);
    expect(g.core.pending()).toBe(0);
  });

  it('out of order within the grace period fills the gap and nothing is reported', () => {
    const g = new Given();
    expect(g.events(seq('//a', 1, 0), seq('//a', 3, 0))).toEqual([]);
    expect(g.event(seq('//a', 2, 4.9))).toEqual({ findings: [], sequence: 'filled' });
    expect(g.at(60)).toEqual([]);
    expect(g.core.pending()).toBe(0);
  });

  it('a gap is reported once the watermark is strictly past the revealing time plus grace', () => {
    const g = new Given();
    g.events(seq('//a', 1, 0), seq('//a', 3, 0.5));
    expect(g.core.pending()).toBe(1);
    expect(g.advance(T0 + 5.5 * MIN)).toEqual([]);
    expect(g.advance(T0 + 5.5 * MIN + 1)).toEqual([gap('//a', 2, 2)]);
    expect(g.core.pending()).toBe(0);
  });

  it('an event filling a reported gap is late, once; again it is a repeat', () => {
    const g = new Given();
    g.events(seq('//a', 1, 0), seq('//a', 3, 0));
    expect(g.at(6)).toEqual([gap('//a', 2, 2)]);
    const two = seq('//a', 2, 1);
    expect(g.event(two)).toEqual({ findings: [late(two)], sequence: 'late' });
    expect(g.event(seq('//a', 2, 1, 'other-id'))).toEqual({ findings: [], sequence: 'repeat' });
    expect(g.at(60)).toEqual([]);
  });

  it('watermark first: the event whose own time makes the gap due is reported late right after it', () => {
    const g = new Given();
    g.events(seq('//a', 1, 0), seq('//a', 3, 0));
    const two = seq('//a', 2, 5.01);
    expect(g.event(two)).toEqual({ findings: [gap('//a', 2, 2), late(two)], sequence: 'late' });
  });

  it('repeated numbers (duplicates, redeliveries) change nothing', () => {
    const g = new Given();
    g.events(seq('//a', 1, 0), seq('//a', 2, 0));
    expect(g.event(seq('//a', 2, 0), { duplicate: true }).sequence).toBe('repeat');
    expect(g.event(seq('//a', 1, 0.1, 'new-id')).sequence).toBe('repeat');
    g.event(seq('//a', 3, 0.2));
    expect(g.at(60)).toEqual([]);
  });

  it('a duplicate numbered by its producer still uses up its number', () => {
    const g = new Given();
    g.events(seq('//a', 1, 0));
    expect(g.event(seq('//a', 2, 0), { duplicate: true }).sequence).toBe('extended');
    g.event(seq('//a', 3, 0));
    expect(g.at(60)).toEqual([]);
  });

  it('each maximal missing range is one finding, in deadline order', () => {
    const g = new Given();
    g.events(seq('//a', 1, 0), seq('//a', 5, 1), seq('//a', 7, 0.5), seq('//b', 10, 0), seq('//b', 12, 0.2));
    expect(g.at(30)).toEqual([gap('//b', 11, 11), gap('//a', 6, 6), gap('//a', 2, 4)]);
    expect(g.at(60)).toEqual([]);
  });

  it('a number inside an open range splits it; the parts keep its deadline and come out low to high', () => {
    const g = new Given();
    g.events(seq('//a', 1, 0), seq('//a', 10, 0), seq('//a', 5, 3), seq('//a', 2, 3), seq('//a', 9, 3));
    expect(g.advance(T0 + 5 * MIN)).toEqual([]);
    expect(g.advance(T0 + 5 * MIN + 1)).toEqual([gap('//a', 3, 4), gap('//a', 6, 8)]);
  });

  it('a number below the lowest reveals the range up to the lowest', () => {
    const g = new Given();
    g.events(seq('//a', 10, 0), seq('//a', 5, 1), seq('//a', 4, 1), seq('//a', 1, 2));
    expect(g.at(30)).toEqual([gap('//a', 6, 9), gap('//a', 2, 3)]);
  });

  it('a late number splits a reported range, and the rest stays reported: each part fills late', () => {
    const g = new Given();
    g.events(seq('//a', 1, 0), seq('//a', 6, 0));
    expect(g.at(10)).toEqual([gap('//a', 2, 5)]);
    const n = [2, 5, 4, 3].map((k) => seq('//a', k, 11));
    expect(n.map((e) => g.event(e))).toEqual(n.map((e) => ({ findings: [late(e)], sequence: 'late' })));
    expect(g.core.exportSource('//a')!.gaps).toEqual([]);
  });

  it('gaps at power-of-two boundaries (block edges of any bitmap layout) are single ranges', () => {
    const g = new Given();
    g.events(seq('//a', 1022, 0), seq('//a', 1025, 0), seq('//a', 4294967295, 0.1), seq('//a', 4294967297, 0.2));
    expect(g.at(30)).toEqual([gap('//a', 1023, 1024), gap('//a', 1026, 4294967294), gap('//a', 4294967296, 4294967296)]);
  });

  // The envelope caps sequence at 2^53-1 (so findings print it exactly): the top of that range.
  it('compares numbers as integers: leading zeros and numbers up to 2^53-1 are exact', () => {
    const g = new Given();
    g.events(seq('//a', '0009', 0), seq('//a', '11', 0), seq('//b', '9007199254740985', 0), seq('//b', '9007199254740991', 0));
    g.event(seq('//b', '9007199254740988', 1));
    expect(g.core.exportSource('//a')!.gaps).toMatchObject([{ from: '10', to: '10' }]);
    expect(g.core.exportSource('//b')!.gaps).toMatchObject([
      { from: '9007199254740986', to: '9007199254740987' },
      { from: '9007199254740989', to: '9007199254740990' },
    ]);
    expect(g.event(seq('//b', '9007199254740990', 2)).sequence).toBe('filled');
  });

  it('a jump of a billion is one gap and one range, not a billion of anything', () => {
    const g = new Given();
    g.events(seq('//a', 1, 0), seq('//a', 1_000_000_002, 0));
    expect(g.core.exportSource('//a')).toEqual({
      low: '1',
      high: '1000000002',
      gaps: [{ from: '2', to: '1000000001', deadlineMs: T0 + 5 * MIN, order: 2, reported: false }],
    });
    const mid = seq('//a', 500_000_000, 1);
    expect(g.event(mid).sequence).toBe('filled');
    expect(g.at(6)).toEqual([gap('//a', 2, 499_999_999), gap('//a', 500_000_001, 1_000_000_001)]);
  });

  it('the grace period is configuration', () => {
    const g = new Given({ ...DEFAULT_GAP_RULES, graceMs: MIN });
    g.events(seq('//a', 1, 0), seq('//a', 3, 0));
    expect(g.at(1)).toEqual([]);
    expect(g.advance(T0 + MIN + 1)).toEqual([gap('//a', 2, 2)]);
  });
});

const card = (id: string, cardId: string, minutes: number) => fx.cardScanned({ id, source: '//scanner', time: at(minutes), data: { card_id: cardId } });
const lead = (id: string, leadId: string, cardId: string | undefined, minutes: number) =>
  fx.leadCreated({ id, source: '//crm', time: at(minutes), data: { lead_id: leadId, card_id: cardId } });
const crm = (id: string, leadId: string, minutes: number) => fx.crmSynced({ id, source: '//crm', time: at(minutes), data: { lead_id: leadId } });
const followup = (id: string, leadId: string, minutes: number) => fx.followupSent({ id, source: '//followups', time: at(minutes), data: { lead_id: leadId } });
const broken = (e: Raw, line: number, expected: string): Finding => ({
  kind: 'chain_broken',
  action: 'reported',
  event_id: e.id,
  type: e.type,
  source: e.source,
  line,
  expected_type: expected,
});

describe('broken chains (DESIGN §3): given accepted events, when the watermark moves', () => {
  it('an upstream with no successor by its deadline is reported with the type it waited for', () => {
    const g = new Given();
    const c = card('c', 'card-1', 0);
    g.events(c);
    expect(g.at(10)).toEqual([]);
    expect(g.advance(T0 + 10 * MIN + 1)).toEqual([broken(c, 1, 'lead.created')]);
    expect(g.at(100)).toEqual([]);
  });

  it('each link has its own deadline: 10, 15 and 60 minutes', () => {
    const g = new Given();
    const [c, l, s] = [card('c', 'card-1', 0), lead('l', 'lead-9', undefined, 0), crm('s', 'lead-8', 0)];
    g.events(c, l, s);
    expect(g.advance(T0 + 10 * MIN + 1)).toEqual([broken(c, 1, 'lead.created')]);
    expect(g.advance(T0 + 15 * MIN + 1)).toEqual([broken(l, 2, 'crm.synced')]);
    expect(g.advance(T0 + 60 * MIN)).toEqual([]);
    expect(g.advance(T0 + 60 * MIN + 1)).toEqual([broken(s, 3, 'followup.sent')]);
  });

  it('a whole chain in time reports nothing', () => {
    const g = new Given();
    expect(g.events(card('c', 'card-1', 0), lead('l', 'lead-1', 'card-1', 5), crm('s', 'lead-1', 15), followup('f', 'lead-1', 70))).toEqual([]);
    expect(g.at(500)).toEqual([]);
    expect(g.core.pending()).toBe(0);
  });

  it('a successor that arrives before its predecessor satisfies it', () => {
    const g = new Given();
    expect(g.events(followup('f', 'lead-1', 1), lead('l', 'lead-1', 'card-1', 1), crm('s', 'lead-1', 2), card('c', 'card-1', 0))).toEqual([]);
    expect(g.at(500)).toEqual([]);
  });

  it('a lead.created without card_id satisfies no scan', () => {
    const g = new Given();
    const c = card('c', 'card-1', 0);
    g.events(c, lead('l', 'lead-1', undefined, 1), crm('s', 'lead-1', 2), followup('f', 'lead-1', 3));
    expect(g.at(30)).toEqual([broken(c, 1, 'lead.created')]);
  });

  it('one successor satisfies every upstream waiting under its key', () => {
    const g = new Given();
    g.events(lead('l1', 'lead-1', 'card-1', 0), lead('l2', 'lead-1', 'card-2', 1), crm('s', 'lead-1', 2));
    expect(g.at(500)).toEqual([broken(crm('s', 'lead-1', 2), 3, 'followup.sent')]);
  });

  it('watermark first: a successor whose own time passes the deadline is too late, and opens its own chain', () => {
    const g = new Given();
    const c = card('c', 'card-1', 0);
    const l = lead('l', 'lead-1', 'card-1', 10.5);
    g.events(c);
    expect(g.events(l)).toEqual([broken(c, 1, 'lead.created')]);
    expect(g.core.pending()).toBe(1);
    expect(g.at(10.5 + 15 + 0.001)).toEqual([broken(l, 2, 'crm.synced')]);
  });

  it('a duplicate (not accepted) neither opens nor satisfies a chain', () => {
    const g = new Given();
    g.event(card('dup', 'card-1', 0), { duplicate: true });
    const c = card('c', 'card-2', 0);
    g.event(c);
    g.event(lead('l', 'lead-1', 'card-2', 1), { duplicate: true });
    expect(g.at(11)).toEqual([broken(c, 2, 'lead.created')]);
  });

  it('reports in deadline order, then arrival order; a gap before a chain of the same event', () => {
    const g = new Given({ graceMs: 10 * MIN, chainDeadlinesMs: { 'card.scanned': 10 * MIN, 'lead.created': 10 * MIN, 'crm.synced': 10 * MIN } });
    const c1 = card('c1', 'card-1', 1);
    const c2 = fx.cardScanned({ id: 'c2', source: '//scanner', sequence: '3', time: at(0), data: { card_id: 'card-2' } });
    const c0 = fx.cardScanned({ id: 'c0', source: '//scanner', sequence: '1', time: at(0), data: { card_id: 'card-0' } });
    g.events(c0, c1, c2);
    expect(g.at(30)).toEqual([broken(c0, 1, 'lead.created'), gap('//scanner', 2, 2), broken(c2, 3, 'lead.created'), broken(c1, 2, 'lead.created')]);
  });
});

describe('state a delivery can save and restore (the function side)', () => {
  it('a source round-trips through its snapshot and keeps deciding the same', () => {
    const g = new Given();
    g.events(seq('//a', 1, 0), seq('//a', 4, 0), seq('//a', 9, 1));
    g.at(5.5); // reports 2..3
    const restored = new GapDetectorCore(DEFAULT_GAP_RULES);
    restored.restoreSource('//a', g.core.exportSource('//a')!);
    expect(restored.exportSource('//a')).toEqual(g.core.exportSource('//a'));
    expect(restored.observeSequence('//a', 2n, T0, 10)).toBe('late');
    expect(restored.observeSequence('//a', 6n, T0, 11)).toBe('filled');
    expect(restored.overdue(T0 + 7 * MIN).map(overdueFinding)).toEqual([gap('//a', 5, 5), gap('//a', 7, 8)]);
    expect(restored.pending()).toBe(0);
  });

  it('remembers reported upstreams, so a redelivered upstream is not reported twice', () => {
    const core = new GapDetectorCore(DEFAULT_GAP_RULES, { rememberReported: true });
    const c = BusinessEvent.parse(card('c', 'card-1', 0));
    core.observeChain(c, T0, 1);
    expect(core.overdue(T0 + 11 * MIN)).toHaveLength(1);
    const again = new GapDetectorCore(DEFAULT_GAP_RULES, { rememberReported: true });
    again.restoreSlot('lead.created|card-1', core.exportSlot('lead.created|card-1')!);
    again.observeChain(c, T0, 2);
    expect(again.pending()).toBe(0);
    expect(again.exportSlot('lead.created|card-1')).toEqual({ seen: false, waiting: [], reported: ['c'] });
  });

  it('bounds a source: old reported ranges are forgotten, then the earliest open ones are reported early', () => {
    const core = new GapDetectorCore(DEFAULT_GAP_RULES);
    for (let i = 0; i < 8; i++) core.observeSequence('//a', BigInt(i * 2), T0 + i * MIN, i);
    // Ranges {1}, {3}, … {13}, due 6, 7, … 12 minutes after T0; the first two are reported.
    expect(core.overdue(T0 + 7 * MIN + 1).map(overdueFinding)).toEqual([gap('//a', 1, 1), gap('//a', 3, 3)]);
    expect(core.bound('//a', T0 + 6 * MIN + 1, 100)).toEqual([]);
    expect(core.exportSource('//a')!.gaps.map((r) => r.from)).toEqual(['3', '5', '7', '9', '11', '13']);
    expect(core.bound('//a', 0, 3).map(overdueFinding)).toEqual([gap('//a', 5, 5), gap('//a', 7, 7)]);
    expect(core.exportSource('//a')!.gaps.map((r) => r.from)).toEqual(['9', '11', '13']);
    expect(core.pending()).toBe(3);
    expect(core.overdue(T0 + 60 * MIN).map(overdueFinding)).toEqual([gap('//a', 9, 9), gap('//a', 11, 11), gap('//a', 13, 13)]);
  });
});
