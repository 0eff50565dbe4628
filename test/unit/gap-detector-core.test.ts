import { BusinessEvent } from '../../shared/events/envelope';
import type { Finding } from '../../shared/findings';
import {
  decide,
  DEFAULT_GAP_RULES,
  exportSlot,
  exportSource,
  findingsOf,
  initialGapState,
  pending,
  restoreSlot,
  restoreSource,
  restoreState,
  run,
  snapshotState,
  type DecideContext,
  type GapInput,
  type GapRules,
  type GapState,
  type SequenceOutcome,
} from '../../functions/gap-detector/core';
import * as fx from '../support/events';

const T0 = Date.parse('2026-03-01T10:00:00Z');
const MIN = 60_000;
const at = (minutes: number) => new Date(T0 + minutes * MIN).toISOString();

type Raw = ReturnType<typeof fx.leadTagged>;

/**
 * Feeds the decider what the replay engine would for each event (DESIGN §7): the watermark
 * moves to every valid event's time, its sequence number counts, and, if it was accepted, it
 * takes part in chains. The order of the steps is the decider's; this only hands over inputs.
 */
class Given {
  readonly state = initialGapState();
  private readonly ctx: DecideContext;
  private arrival = 0;

  constructor(rules: GapRules = DEFAULT_GAP_RULES) {
    this.ctx = { rules, redeliveries: false };
  }

  /** Feeds events; returns every finding they caused, in order. */
  events(...raws: Raw[]): Finding[] {
    return raws.flatMap((raw) => this.event(raw).findings);
  }

  /** One event, accepted unless `duplicate`: the findings it caused and what its number did. */
  event(raw: Raw, options: { duplicate?: boolean } = {}): { findings: Finding[]; sequence: SequenceOutcome | undefined } {
    const event = BusinessEvent.parse(raw);
    const timeMs = Date.parse(event.time);
    const order = ++this.arrival;
    const findings = this.advance(timeMs);
    let sequence: SequenceOutcome | undefined;
    if (event.sequence !== undefined) {
      const decisions = this.input({ kind: 'sequence', source: event.source, seq: BigInt(event.sequence), eventId: event.id, type: event.type, timeMs, order, watermarkMs: this.state.watermarkMs });
      for (const d of decisions) if (d.kind === 'number_counted') sequence = d.outcome;
      findings.push(...findingsOf(decisions));
    }
    if (!options.duplicate) findings.push(...findingsOf(this.input({ kind: 'chain', event, timeMs, order, watermarkMs: this.state.watermarkMs, line: order })));
    return { findings, sequence };
  }

  /** The watermark moves on (another source's event, or the end of input). */
  advance(timeMs: number): Finding[] {
    return findingsOf(this.input({ kind: 'advance', watermarkMs: timeMs }));
  }

  at(minutes: number): Finding[] {
    return this.advance(T0 + minutes * MIN);
  }

  input(input: GapInput) {
    return run(this.state, input, this.ctx);
  }
}

/** An event of source `s` with sequence number `n` at `minutes` after T0. */
const seq = (s: string, n: string | number, minutes: number, id = `${s}-${n}-${minutes}`) =>
  fx.leadTagged({ id, source: s, sequence: String(n), time: at(minutes) });
const gap = (source: string, from: number, to: number): Finding => ({ kind: 'gap', action: 'reported', source, from_sequence: from, to_sequence: to });
const late = (e: Raw): Finding => ({ kind: 'late', action: 'reported', event_id: e.id, type: e.type, source: e.source, closes: 'gap' });

describe('sequence gaps (DESIGN §3): given earlier numbers, when one more arrives', () => {
  it('the first number of a source reveals nothing, even from the middle of a stream', () => {
    const g = new Given();
    expect(g.event(seq('//a', 1000, 0)).sequence).toBe('first');
    expect(g.event(seq('//a', 1001, 1)).sequence).toBe('extended');
    expect(g.at(60)).toEqual([]);
    expect(pending(g.state)).toBe(0);
  });

  it('out of order within the grace period fills the gap and nothing is reported', () => {
    const g = new Given();
    expect(g.events(seq('//a', 1, 0), seq('//a', 3, 0))).toEqual([]);
    expect(g.event(seq('//a', 2, 4.9))).toEqual({ findings: [], sequence: 'filled' });
    expect(g.at(60)).toEqual([]);
    expect(pending(g.state)).toBe(0);
  });

  it('a gap is reported once the watermark is strictly past the revealing time plus grace', () => {
    const g = new Given();
    g.events(seq('//a', 1, 0), seq('//a', 3, 0.5));
    expect(pending(g.state)).toBe(1);
    expect(g.advance(T0 + 5.5 * MIN)).toEqual([]);
    expect(g.advance(T0 + 5.5 * MIN + 1)).toEqual([gap('//a', 2, 2)]);
    expect(pending(g.state)).toBe(0);
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
    expect(exportSource(g.state, '//a')!.gaps).toEqual([]);
  });

  it('gaps at power-of-two boundaries (block edges of any bitmap layout) are single ranges', () => {
    const g = new Given({ ...DEFAULT_GAP_RULES, maxSequenceJump: 2 ** 33 });
    g.events(seq('//a', 1022, 0), seq('//a', 1025, 0), seq('//a', 4294967295, 0.1), seq('//a', 4294967297, 0.2));
    expect(g.at(30)).toEqual([gap('//a', 1023, 1024), gap('//a', 1026, 4294967294), gap('//a', 4294967296, 4294967296)]);
  });

  // The envelope caps sequence at 2^53-1 (so findings print it exactly): the top of that range.
  it('compares numbers as integers: leading zeros and numbers up to 2^53-1 are exact', () => {
    const g = new Given();
    g.events(seq('//a', '0009', 0), seq('//a', '11', 0), seq('//b', '9007199254740985', 0), seq('//b', '9007199254740991', 0));
    g.event(seq('//b', '9007199254740988', 1));
    expect(exportSource(g.state, '//a')!.gaps).toMatchObject([{ from: '10', to: '10' }]);
    expect(exportSource(g.state, '//b')!.gaps).toMatchObject([
      { from: '9007199254740986', to: '9007199254740987' },
      { from: '9007199254740989', to: '9007199254740990' },
    ]);
    expect(g.event(seq('//b', '9007199254740990', 2)).sequence).toBe('filled');
  });

  it('a jump of a billion is one gap and one range, not a billion of anything (with the bound on jumps above it)', () => {
    const g = new Given({ ...DEFAULT_GAP_RULES, maxSequenceJump: 2_000_000_000 });
    g.events(seq('//a', 1, 0), seq('//a', 1_000_000_002, 0));
    expect(exportSource(g.state, '//a')).toEqual({
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

const jump = (e: Raw, from: number, bound = DEFAULT_GAP_RULES.maxSequenceJump): Finding => {
  const to = Number((e as { sequence?: string }).sequence);
  return {
    kind: 'sequence_jump',
    action: 'review',
    event_id: e.id,
    type: e.type,
    source: e.source,
    from_sequence: from,
    to_sequence: to,
    reason: `sequence number ${to} is ${Math.abs(to - from)} away from ${from}, the nearest number seen from this source (more than the bound of ${bound}): a sequence reset or a bad number; the source's later numbers are judged from where they continue`,
  };
};
const run1 = (source: string, from: number, to: number, minutes: number) => Array.from({ length: to - from + 1 }, (_, i) => seq(source, from + i, minutes));

describe('one wild sequence number (issue 20): a jump beyond the bound is one finding', () => {
  it('1-5, then 2^53-1, then 6-200: one finding, no gap, nothing late', () => {
    const g = new Given();
    const wild = seq('//a', '9007199254740991', 1);
    expect(g.events(...run1('//a', 1, 5, 0))).toEqual([]);
    expect(g.event(wild)).toEqual({ findings: [jump(wild, 5)], sequence: 'jumped' });
    expect(g.events(...run1('//a', 6, 200, 2))).toEqual([]);
    expect(g.at(60)).toEqual([]);
    expect(exportSource(g.state, '//a')).toMatchObject({ low: '1', high: '200', gaps: [] });
    expect(pending(g.state)).toBe(0);
  });

  it('later numbers are still judged: a gap after the wild number is reported', () => {
    const g = new Given();
    g.events(...run1('//a', 1, 5, 0), seq('//a', 50_000_000, 1), seq('//a', 8, 2));
    expect(g.at(60)).toEqual([gap('//a', 6, 7)]);
  });

  it('a reset: the numbers that continue from the new one are judged from there; the old range is closed', () => {
    const g = new Given();
    const first = seq('//a', 1, 3);
    expect(g.events(seq('//a', 7_000_000, 0), seq('//a', 7_000_002, 0))).toEqual([]); // 7,000,001 still open
    expect(g.event(first).findings).toEqual([jump(first, 7_000_000)]);
    // 2 continues from 1: the source was reset. What was open before it is reported now, once.
    expect(g.event(seq('//a', 2, 3))).toEqual({ findings: [gap('//a', 7_000_001, 7_000_001)], sequence: 'rebased' });
    expect(g.events(...run1('//a', 3, 100, 4))).toEqual([]);
    expect(g.at(60)).toEqual([]);
    expect(exportSource(g.state, '//a')).toMatchObject({ low: '1', high: '100', gaps: [] });
    expect(pending(g.state)).toBe(0);
  });

  it('a reset that skips numbers reports them as a gap of the new range', () => {
    const g = new Given();
    g.events(seq('//a', 7_000_000, 0), seq('//a', 1, 1), seq('//a', 4, 1));
    expect(g.at(60)).toEqual([gap('//a', 2, 3)]);
  });

  it('the wild number again (a redelivery) is a repeat: no second finding, no reset', () => {
    const g = new Given();
    const wild = seq('//a', 90_000_000, 1);
    g.events(...run1('//a', 1, 5, 0));
    expect(g.event(wild).findings).toEqual([jump(wild, 5)]);
    expect(g.event(wild)).toEqual({ findings: [], sequence: 'repeat' });
    expect(g.events(...run1('//a', 6, 10, 2))).toEqual([]);
    expect(exportSource(g.state, '//a')).toMatchObject({ low: '1', high: '10', gaps: [] });
  });

  it('below the lowest number too', () => {
    const g = new Given();
    const wild = seq('//a', 1, 1);
    g.events(seq('//a', 5_000_000, 0));
    expect(g.event(wild).findings).toEqual([jump(wild, 5_000_000)]);
  });

  it('the bound is configuration, and survives a snapshot (the function restores each delivery)', () => {
    const rules = { ...DEFAULT_GAP_RULES, maxSequenceJump: 10 };
    const g = new Given(rules);
    g.events(seq('//a', 1, 0), seq('//a', 11, 0));
    expect(g.at(60)).toEqual([gap('//a', 2, 10)]); // 10 apart: within the bound
    const h = new Given(rules);
    const far = seq('//a', 100, 1);
    h.events(seq('//a', 1, 0));
    expect(h.event(far).findings).toEqual([jump(far, 1, 10)]);
    const restored = initialGapState();
    restoreSource(restored, '//a', exportSource(h.state, '//a')!);
    expect(exportSource(restored, '//a')).toEqual(exportSource(h.state, '//a'));
    expect(exportSource(h.state, '//a')).toMatchObject({ jumped: '100' });
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
    expect(pending(g.state)).toBe(0);
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

  it('watermark first: a successor whose own time passes the deadline is too late: it closes the chain late, and opens its own', () => {
    const g = new Given();
    const c = card('c', 'card-1', 0);
    const l = lead('l', 'lead-1', 'card-1', 10.5);
    g.events(c);
    expect(g.events(l)).toEqual([broken(c, 1, 'lead.created'), closes(l, c)]);
    expect(pending(g.state)).toBe(1);
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
    const g = new Given({ ...DEFAULT_GAP_RULES, graceMs: 10 * MIN, chainDeadlinesMs: { 'card.scanned': 10 * MIN, 'lead.created': 10 * MIN, 'crm.synced': 10 * MIN } });
    const c1 = card('c1', 'card-1', 1);
    const c2 = fx.cardScanned({ id: 'c2', source: '//scanner', sequence: '3', time: at(0), data: { card_id: 'card-2' } });
    const c0 = fx.cardScanned({ id: 'c0', source: '//scanner', sequence: '1', time: at(0), data: { card_id: 'card-0' } });
    g.events(c0, c1, c2);
    expect(g.at(30)).toEqual([broken(c0, 1, 'lead.created'), gap('//scanner', 2, 2), broken(c2, 3, 'lead.created'), broken(c1, 2, 'lead.created')]);
  });
});

/** The late finding of a successor closing `upstream`'s broken chain (replay adds the successor's line). */
const closes = (successor: Raw, upstream: Raw): Finding => ({
  kind: 'late',
  action: 'reported',
  event_id: successor.id,
  type: successor.type,
  source: successor.source,
  closes: 'chain_broken',
  upstream_id: upstream.id,
});

describe('chains that close late (DESIGN §3): a successor after its upstream was reported broken', () => {
  const c = card('c', 'card-1', 0);
  const c2 = card('c2', 'card-1', 1);
  const l = lead('l', 'lead-1', 'card-1', 5);
  const lateLead = lead('l', 'lead-1', 'card-1', 12);
  const noCard = lead('l', 'lead-1', undefined, 5);
  const s = crm('s', 'lead-1', 20);
  const other = seq('//clock', 1, 30);
  // Each row: events in arrival order (d: fed as a duplicate, not accepted), then the findings after the watermark reaches 30.
  it.each<[string, Array<Raw | ['d', Raw]>, Finding[]]>([
    ['in time: satisfied, nothing closes late (the lead then waits for its own sync)', [c, l], [broken(l, 2, 'crm.synced')]],
    ['delivered after the report: closes it late, naming the upstream; the line is the successor\'s', [c, other, l], [broken(c, 1, 'lead.created'), closes(l, c), broken(l, 3, 'crm.synced')]],
    ['its own time passes the deadline: reported broken, then closed late, by the same event', [c, lateLead], [broken(c, 1, 'lead.created'), closes(lateLead, c), broken(lateLead, 2, 'crm.synced')]],
    ['two upstreams reported under one key: one successor closes both, in report order', [c, c2, other, l], [broken(c, 1, 'lead.created'), broken(c2, 2, 'lead.created'), closes(l, c), closes(l, c2), broken(l, 4, 'crm.synced')]],
    ['a second successor finds the chain closed: nothing more', [c, other, l, lead('l2', 'lead-2', 'card-1', 21)], [broken(c, 1, 'lead.created'), closes(l, c), broken(l, 3, 'crm.synced')]],
    ['a successor that is a duplicate (not accepted) closes nothing', [c, other, ['d', l]], [broken(c, 1, 'lead.created')]],
    ['a lead without card_id is no successor of a scan', [c, other, noCard], [broken(c, 1, 'lead.created'), broken(noCard, 3, 'crm.synced')]],
    ['every link closes the same way: a CRM sync after its lead was reported', [l, seq('//clock', 1, 21), s], [broken(l, 1, 'crm.synced'), closes(s, l)]],
  ])('%s', (_, events, expected) => {
    const g = new Given();
    const found = events.flatMap((e) => (Array.isArray(e) ? g.event(e[1], { duplicate: true }).findings : g.event(e).findings));
    found.push(...g.at(30));
    expect(found.filter((f) => f.kind !== 'gap')).toEqual(expected);
  });

  it('the function keeps a reported upstream in its key\'s snapshot until the successor comes, and a redelivered successor closes it once', () => {
    const redelivered: DecideContext = { rules: DEFAULT_GAP_RULES, redeliveries: true };
    const scan = BusinessEvent.parse(c);
    const successor = BusinessEvent.parse(l);
    const first = initialGapState();
    run(first, { kind: 'chain', event: scan, timeMs: T0, order: 1, watermarkMs: T0 }, redelivered);
    run(first, { kind: 'advance', watermarkMs: T0 + 11 * MIN }, redelivered);
    const slot = exportSlot(first, 'lead.created|card-1')!;
    expect(slot).toEqual({ seen: false, waiting: [], reported: ['c'] });
    const later = initialGapState();
    restoreSlot(later, 'lead.created|card-1', slot);
    const deliver = () => findingsOf(run(later, { kind: 'chain', event: successor, timeMs: T0 + 5 * MIN, order: 2, watermarkMs: T0 + 11 * MIN }, redelivered));
    expect(deliver()).toEqual([{ kind: 'late', action: 'reported', event_id: 'l', type: 'lead.created', source: '//crm', closes: 'chain_broken', upstream_id: 'c' }]);
    expect(deliver()).toEqual([]);
    expect(exportSlot(later, 'lead.created|card-1')).toEqual({ seen: true, waiting: [], reported: [] });
  });
});

const ctx: DecideContext = { rules: DEFAULT_GAP_RULES, redeliveries: false };
const number = (source: string, seq: number, minutes: number, order: number): GapInput => ({
  kind: 'sequence',
  source,
  seq: BigInt(seq),
  eventId: `${source}-${seq}`,
  type: 'lead.tagged',
  timeMs: T0 + minutes * MIN,
  order,
  watermarkMs: Number.NEGATIVE_INFINITY,
});
const outcomes = (state: GapState, inputs: GapInput[], context = ctx) =>
  inputs.flatMap((i) => run(state, i, context).flatMap((d) => (d.kind === 'number_counted' ? [d.outcome] : [])));

describe('state a delivery can save and restore (the function side)', () => {
  it('a source round-trips through its snapshot and keeps deciding the same', () => {
    const g = new Given();
    g.events(seq('//a', 1, 0), seq('//a', 4, 0), seq('//a', 9, 1));
    g.at(5.5); // reports 2..3
    const restored = initialGapState();
    restoreSource(restored, '//a', exportSource(g.state, '//a')!);
    expect(exportSource(restored, '//a')).toEqual(exportSource(g.state, '//a'));
    expect(outcomes(restored, [number('//a', 2, 0, 10), number('//a', 6, 0, 11)])).toEqual(['late', 'filled']);
    expect(findingsOf(run(restored, { kind: 'advance', watermarkMs: T0 + 7 * MIN }, ctx))).toEqual([gap('//a', 5, 5), gap('//a', 7, 8)]);
    expect(pending(restored)).toBe(0);
  });

  it('a whole state round-trips through its snapshot, and the copy decides what the original decides', () => {
    const g = new Given();
    g.events(seq('//a', 1, 0), seq('//a', 4, 0), card('c', 'card-1', 1), lead('l', 'lead-1', 'card-1', 2), seq('//b', 7, 3), seq('//b', 10, 3));
    g.at(5.5);
    const snapshot = snapshotState(g.state);
    expect(JSON.parse(JSON.stringify(snapshot))).toEqual(snapshot);
    const copy = restoreState(snapshot);
    expect(snapshotState(copy)).toEqual(snapshot);
    expect(pending(copy)).toBe(pending(g.state));
    const next: GapInput[] = [number('//b', 8, 6, 20), { kind: 'advance', watermarkMs: T0 + 30 * MIN }];
    const findingsOfCopy = next.flatMap((i) => findingsOf(run(copy, i, ctx)));
    // The original carries input lines the snapshot leaves out; otherwise the same.
    const withoutLines = (fs: Finding[]) => fs.map(({ line: _, ...f }) => f);
    expect(withoutLines(findingsOfCopy)).toEqual(withoutLines(next.flatMap((i) => findingsOf(g.input(i)))));
    expect(findingsOfCopy.map((f) => f.kind)).toEqual(['gap', 'chain_broken']);
  });

  it('decide reads the state and changes nothing in it; evolve applies what it decided', () => {
    const g = new Given();
    g.events(seq('//a', 1, 0), seq('//a', 3, 0), card('c', 'card-1', 0));
    const before = snapshotState(g.state);
    const decisions = decide(g.state, { kind: 'advance', watermarkMs: T0 + 30 * MIN }, ctx);
    expect(decisions.map((d) => d.kind)).toEqual(['watermark_moved', 'gap_reported', 'chain_reported']);
    expect(snapshotState(g.state)).toEqual(before);
    expect(pending(g.state)).toBe(2);
    expect(findingsOf(g.input({ kind: 'advance', watermarkMs: T0 + 30 * MIN }))).toEqual(findingsOf(decisions));
    expect(pending(g.state)).toBe(0);
  });

  it('remembers reported upstreams, so a redelivered upstream is not reported twice', () => {
    const redelivered: DecideContext = { ...ctx, redeliveries: true };
    const c = BusinessEvent.parse(card('c', 'card-1', 0));
    const first = initialGapState();
    run(first, { kind: 'chain', event: c, timeMs: T0, order: 1, watermarkMs: T0 }, redelivered);
    expect(findingsOf(run(first, { kind: 'advance', watermarkMs: T0 + 11 * MIN }, redelivered))).toHaveLength(1);
    const again = initialGapState();
    restoreSlot(again, 'lead.created|card-1', exportSlot(first, 'lead.created|card-1')!);
    expect(findingsOf(run(again, { kind: 'chain', event: c, timeMs: T0, order: 2, watermarkMs: T0 }, redelivered))).toEqual([]);
    expect(pending(again)).toBe(0);
    expect(exportSlot(again, 'lead.created|card-1')).toEqual({ seen: false, waiting: [], reported: ['c'] });
  });

  it('bounds a source: old reported ranges are forgotten, then the earliest open ones are reported early', () => {
    const state = initialGapState();
    const inputs = Array.from({ length: 8 }, (_, i) => number('//a', i * 2, i, i));
    // Ranges {1}, {3}, … {13}, due 6, 7, … 12 minutes after T0; the first two are reported.
    const reported = [...inputs, { kind: 'advance', watermarkMs: T0 + 7 * MIN + 1 } as const].flatMap((i) => findingsOf(run(state, i, ctx)));
    expect(reported).toEqual([gap('//a', 1, 1), gap('//a', 3, 3)]);
    const bound = (forgetBeforeMs: number, maxRanges: number) => findingsOf(run(state, { kind: 'bound', source: '//a', forgetBeforeMs, maxRanges }, ctx));
    expect(bound(T0 + 6 * MIN + 1, 100)).toEqual([]);
    expect(exportSource(state, '//a')!.gaps.map((r) => r.from)).toEqual(['3', '5', '7', '9', '11', '13']);
    expect(bound(0, 3)).toEqual([gap('//a', 5, 5), gap('//a', 7, 7)]);
    expect(exportSource(state, '//a')!.gaps.map((r) => r.from)).toEqual(['9', '11', '13']);
    expect(pending(state)).toBe(3);
    expect(findingsOf(run(state, { kind: 'advance', watermarkMs: T0 + 60 * MIN }, ctx))).toEqual([gap('//a', 9, 9), gap('//a', 11, 11), gap('//a', 13, 13)]);
  });
});
