import { BusinessEvent } from '../../shared/events/envelope';
import { derivedId } from '../../shared/ids';
import { MemoryGapStore } from '../../functions/gap-detector/memory-store';
import { CHAIN_TTL_MARGIN_MS, changedChainDocument, chainDocumentExpiry, chainDocumentKey, slotExpiry, type SlotRecord } from '../../functions/gap-detector/records';
import { DEFAULT_GAP_STATE_CONFIG, type GapStateContext, type PendingMarker } from '../../functions/gap-detector/store';
import { chainTransition, foldTransition, sweepTransition } from '../../functions/gap-detector/transitions';
import * as fx from '../support/events';

const T0 = Date.parse('2026-03-01T10:00:00Z');
const MIN = 60_000;
const NOW = Date.parse('2026-03-01T12:00:00Z');
const ctx: GapStateContext = { now: NOW, config: DEFAULT_GAP_STATE_CONFIG };
const fold = { force: false, minIntervalMs: 0 };

/** Number `seq` of source //a at `minutes`, delivered when the watermark stood at `seenAt` minutes (default: its own time). */
const marker = (seq: number, minutes: number, order = seq, seenAt = minutes): PendingMarker => ({
  source: '//a',
  seq: String(seq),
  eventId: `e${seq}`,
  type: 'lead.tagged',
  timeMs: T0 + minutes * MIN,
  watermarkMs: T0 + seenAt * MIN,
  order,
});
const findings = (messages: ReadonlyArray<{ to: string; data: string }>) =>
  messages.filter((m) => m.to === 'findings').map((m) => JSON.parse(m.data) as Record<string, unknown>);

describe('a fold of one source: recorded numbers in arrival order, watermark first', () => {
  it('reveals, reports once due and names late arrivals, with ids a redelivery reproduces', () => {
    const first = foldTransition('//a', undefined, [marker(1, 0), marker(4, 0)], T0, ctx)!;
    expect(first.outbox).toEqual([]);
    expect(first.record).toMatchObject({ low: '1', high: '4', nextDueMs: T0 + 5 * MIN, watermarkMs: T0, foldedAtMs: NOW });

    const second = foldTransition('//a', first.record, [marker(3, 1), marker(6, 6)], T0 + 6 * MIN, ctx)!;
    // 6 arrives at minute 6: the watermark passes 2's deadline (5) first, then 6 reveals 5.
    expect(findings(second.outbox)).toEqual([{ kind: 'gap', action: 'reported', source: '//a', from_sequence: 2, to_sequence: 2 }]);
    expect(second.outbox[0]).toEqual({
      id: derivedId('gap', '//a', '2', '2'),
      to: 'findings',
      data: expect.any(String),
      attributes: { kind: 'gap', action: 'reported', finding_id: derivedId('gap', '//a', '2', '2'), source: '//a' },
    });
    expect(second.record.nextDueMs).toBe(T0 + 11 * MIN);

    const third = foldTransition('//a', second.record, [marker(2, 1)], T0 + 6 * MIN, ctx)!;
    expect(findings(third.outbox)).toEqual([{ kind: 'late', action: 'reported', event_id: 'e2', type: 'lead.tagged', source: '//a', closes: 'gap' }]);
    expect(third.outbox[0]!.id).toBe(derivedId('late', '//a', '2', 'e2'));
  });

  it('does not let an outside watermark pass numbers still waiting in the next batch, and reports what a batch reveals overdue at once', () => {
    // A tick at minute 60 folds a backlog in two batches: 1 and 3 first, then 2 and 5.
    const tick = T0 + 60 * MIN;
    const first = foldTransition('//a', undefined, [marker(1, 0), marker(3, 0)], tick, ctx, true)!;
    expect(findings(first.outbox)).toEqual([]);
    const second = foldTransition('//a', first.record, [marker(2, 0), marker(5, 0)], tick, ctx, false)!;
    // 2 was never missing; 4, revealed by this batch and overdue at once, is reported now.
    expect(findings(second.outbox)).toEqual([{ kind: 'gap', action: 'reported', source: '//a', from_sequence: 4, to_sequence: 4 }]);
    expect(second.record.watermarkMs).toBe(tick);
  });

  it('moves the watermark to where each delivery saw it: a number that came after its gap fell due is late, even in the same fold', () => {
    const inTime = foldTransition('//a', undefined, [marker(1, 0), marker(3, 0), marker(2, 0.5, 3, 4)], T0, ctx)!;
    expect(inTime.outbox).toEqual([]);
    const late = foldTransition('//a', undefined, [marker(1, 0), marker(3, 0), marker(2, 0.5, 3, 6)], T0, ctx)!;
    expect(findings(late.outbox)).toEqual([
      { kind: 'gap', action: 'reported', source: '//a', from_sequence: 2, to_sequence: 2 },
      { kind: 'late', action: 'reported', event_id: 'e2', type: 'lead.tagged', source: '//a', closes: 'gap' },
    ]);
  });

  it('reports a gap that is overdue when a number reveals it at once, as replay does, so its fill in the same fold is late', () => {
    // 3 arrives when the watermark stands at 30: the gap it reveals (due after 5) is already overdue.
    const result = foldTransition('//a', undefined, [marker(1, 0), marker(3, 0, 2, 30), marker(2, 0.5, 3, 30)], T0, ctx)!;
    expect(findings(result.outbox)).toEqual([
      { kind: 'gap', action: 'reported', source: '//a', from_sequence: 2, to_sequence: 2 },
      { kind: 'late', action: 'reported', event_id: 'e2', type: 'lead.tagged', source: '//a', closes: 'gap' },
    ]);
  });

  it('has nothing to do without new numbers or a due gap, and a repeated number changes nothing', () => {
    const first = foldTransition('//a', undefined, [marker(1, 0), marker(2, 0)], T0, ctx)!;
    expect(foldTransition('//a', first.record, [], T0 + 60 * MIN, ctx)).toBeUndefined();
    const again = foldTransition('//a', first.record, [marker(2, 0), marker(1, 0)], T0, ctx)!;
    expect(again.outbox).toEqual([]);
    expect(again.record.gaps).toEqual([]);
  });

  // Markers removed after the summary commit (Bigtable) can be read again by the next fold after a crash.
  it.each([
    ['a gap and its fill', [1, 3, 2, 5], []],
    // 1 now lies far below the new range (a jump, a new finding), 3 resets back to it, 5,000,000 jumps again, 5,000,001 reports gap 2 again.
    ['a jump, then the numbers continuing from it (a reset)', [1, 3, 5_000_000, 5_000_001], ['sequence_jump', 'sequence_jump', 'gap']],
    ['two jumps apart', [1, 2, 5_000_000, 9_000_000], ['sequence_jump', 'sequence_jump']],
  ])('a batch read again after its commit (%s): skipped by the numbers the summary keeps, where applying it again would not be harmless', (_, numbers, again) => {
    const batch = numbers.map((n, i) => marker(n, 1, i));
    const kept = foldTransition('//a', undefined, batch, T0 + MIN, ctx, false, true)!;
    expect(kept.record.applied).toEqual(numbers.map(String));
    // Skipped: nothing to do; with new numbers behind them, only those count.
    expect(foldTransition('//a', kept.record, batch, T0 + MIN, ctx, false, true)).toBeUndefined();
    const next = foldTransition('//a', kept.record, [...batch, marker(numbers.at(-1)! + 1, 1, 9)], T0 + MIN, ctx, false, true)!;
    expect(next.outbox).toEqual([]);
    expect(next.record.applied).toEqual([...numbers, numbers.at(-1)! + 1].map(String));
    // Without the kept numbers, applying the batch again is not always harmless: why they are kept.
    const { applied: __, ...forgetful } = kept.record;
    expect(findings(foldTransition('//a', forgetful, batch, T0 + MIN, ctx)?.outbox ?? []).map((f) => f.kind)).toEqual(again);
    // Stores that delete markers in the fold's commit keep no numbers.
    expect(foldTransition('//a', undefined, batch, T0 + MIN, ctx)!.record.applied).toBeUndefined();
  });

  it('keeps at most maxRangesPerSource ranges, reporting the earliest open ones early', () => {
    const small = { ...ctx, config: { ...ctx.config, maxRangesPerSource: 2 } };
    const markers = [1, 3, 5, 7, 9].map((n, i) => marker(n, i * 0.1, i));
    const result = foldTransition('//a', undefined, markers, T0, small)!;
    expect(findings(result.outbox)).toEqual([
      { kind: 'gap', action: 'reported', source: '//a', from_sequence: 2, to_sequence: 2 },
      { kind: 'gap', action: 'reported', source: '//a', from_sequence: 4, to_sequence: 4 },
    ]);
    expect(result.record.gaps.map((g) => g.from)).toEqual(['6', '8']);
  });
});

describe('chains per awaited successor', () => {
  const card = BusinessEvent.parse(fx.cardScanned({ id: 'c1', time: new Date(T0).toISOString() }));
  const lead = BusinessEvent.parse(fx.leadCreated({ id: 'l1', time: new Date(T0 + MIN).toISOString() }));
  const KEY = 'lead.created|card-1';

  it('an upstream waits under its key; a redelivery changes nothing; its successor leaves only "seen"', () => {
    const opened = chainTransition(new Map([[KEY, undefined]]), card, T0, T0, undefined, ctx);
    expect(opened.outbox).toEqual([]);
    const record = opened.changes.get(KEY)!;
    expect(record).toEqual({
      key: KEY,
      seen: false,
      waiting: [{ eventId: 'c1', type: 'card.scanned', source: '//test/producer', timeMs: T0, deadlineMs: T0 + 10 * MIN, order: NOW }],
      reported: [],
      dueMs: T0 + 10 * MIN,
    });
    expect(chainTransition(new Map([[KEY, record]]), card, T0, T0, undefined, ctx).changes.size).toBe(0);
    const satisfied = chainTransition(new Map([[KEY, record], ['crm.synced|lead-1', undefined]]), lead, T0 + MIN, T0 + MIN, undefined, ctx);
    expect(satisfied.changes.get(KEY)).toEqual({ key: KEY, seen: true, waiting: [], reported: [], dueMs: null });
    expect(satisfied.changes.get('crm.synced|lead-1')).toMatchObject({ seen: false, dueMs: T0 + 16 * MIN });
  });

  it('watermark first: a successor delivered after the deadline passed reports the chain broken, then closes it late', () => {
    const record = chainTransition(new Map([[KEY, undefined]]), card, T0, T0, undefined, ctx).changes.get(KEY)!;
    const late = chainTransition(new Map([[KEY, record], ['crm.synced|lead-1', undefined]]), lead, T0 + MIN, T0 + 11 * MIN, undefined, ctx);
    expect(findings(late.outbox)).toEqual([
      { kind: 'chain_broken', action: 'reported', event_id: 'c1', type: 'card.scanned', source: '//test/producer', expected_type: 'lead.created' },
      { kind: 'late', action: 'reported', event_id: 'l1', type: 'lead.created', source: '//test/producer', closes: 'chain_broken', upstream_id: 'c1' },
    ]);
    expect(late.outbox[1]!.id).toBe(derivedId('late', KEY, 'c1', 'l1'));
    expect(late.changes.get(KEY)).toEqual({ key: KEY, seen: true, waiting: [], reported: [], dueMs: null });
  });

  it('a sweep reports a due upstream once and, when configured, republishes it to events-retrigger', () => {
    const republish = { ...ctx, config: { ...ctx.config, republish: true } };
    const bytes = JSON.stringify(fx.cardScanned({ id: 'c1', time: new Date(T0).toISOString() }));
    const record = chainTransition(new Map([[KEY, undefined]]), card, T0, T0, bytes, republish).changes.get(KEY)!;
    expect(sweepTransition(record, T0 + 10 * MIN, republish)).toEqual({ record, outbox: [], changed: false });
    const swept = sweepTransition(record, T0 + 10 * MIN + 1, republish);
    expect(swept.record).toEqual({ key: KEY, seen: false, waiting: [], reported: ['c1'], dueMs: null });
    expect(swept.outbox).toEqual([
      {
        id: derivedId('chain_broken', 'c1', 'lead.created'),
        to: 'findings',
        data: JSON.stringify({ kind: 'chain_broken', action: 'reported', event_id: 'c1', type: 'card.scanned', source: '//test/producer', expected_type: 'lead.created' }),
        attributes: expect.objectContaining({ kind: 'chain_broken', event_id: 'c1' }),
      },
      {
        id: derivedId('retrigger', 'c1', 'lead.created'),
        to: 'retrigger',
        data: bytes,
        attributes: { type: 'card.scanned', source: '//test/producer', id: 'c1', retrigger: 'chain_broken', expected_type: 'lead.created' },
      },
    ]);
    // Redelivered after the report: not waiting again, not reported again.
    expect(chainTransition(new Map([[KEY, swept.record!]]), card, T0, T0 + 60 * MIN, bytes, republish)).toEqual({ changes: new Map(), outbox: [] });
    // The broken upstream stays remembered (with the retention as its TTL) until its successor closes it late.
    expect(slotExpiry(swept.record!, ctx)).toBe(NOW + ctx.config.retentionMs);
    const closed = chainTransition(new Map([[KEY, swept.record!], ['crm.synced|lead-1', undefined]]), lead, T0 + MIN, T0 + 60 * MIN, undefined, ctx);
    expect(findings(closed.outbox)).toEqual([
      { kind: 'late', action: 'reported', event_id: 'l1', type: 'lead.created', source: '//test/producer', closes: 'chain_broken', upstream_id: 'c1' },
      { kind: 'chain_broken', action: 'reported', event_id: 'l1', type: 'lead.created', source: '//test/producer', expected_type: 'crm.synced' },
    ]);
    expect(closed.changes.get(KEY)).toEqual({ key: KEY, seen: true, waiting: [], reported: [], dueMs: null });
  });

  it('without the switch a broken chain is only reported (the default)', () => {
    const record = chainTransition(new Map([[KEY, undefined]]), card, T0, T0, 'ignored', ctx).changes.get(KEY)!;
    expect(sweepTransition(record, T0 + 11 * MIN, ctx).outbox.map((m) => m.to)).toEqual(['findings']);
  });

  it('expires a waiting chain after its deadline plus the allowed lateness (and a margin), a seen successor after the retention', () => {
    const waiting: SlotRecord = {
      key: KEY,
      seen: false,
      waiting: [{ eventId: 'c', type: 'card.scanned', source: '//s', timeMs: NOW, deadlineMs: NOW + 10 * MIN, order: 1 }],
      reported: [],
      dueMs: NOW + 10 * MIN,
    };
    expect(slotExpiry(waiting, ctx)).toBe(NOW + 10 * MIN + ctx.config.allowedLatenessMs + CHAIN_TTL_MARGIN_MS);
    expect(slotExpiry({ ...waiting, waiting: [], seen: true, dueMs: null }, ctx)).toBe(NOW + ctx.config.retentionMs);
  });
});

describe('chain documents: a card, a lead', () => {
  it.each([
    ['lead.created|card-1', 'lead.created|card-1'],
    ['crm.synced|lead-1', 'crm.synced|lead-1'],
    ['followup.sent|lead-1', 'crm.synced|lead-1'],
    ['followup.sent|a|b', 'crm.synced|a|b'],
  ])('files %s in the document of %s', (key, document) => {
    expect(chainDocumentKey(key)).toBe(document);
  });

  it('refuses what is not an await key', () => {
    expect(() => chainDocumentKey('card.scanned|card-1')).toThrow(/not an await key/);
    expect(() => chainDocumentKey('lead-1')).toThrow(/not an await key/);
  });

  const slot = (key: string, dueMs: number | null, seen = false): SlotRecord => ({
    key,
    seen,
    waiting: dueMs === null ? [] : [{ eventId: key, type: 'lead.created', source: '//s', timeMs: NOW, deadlineMs: dueMs, order: 1 }],
    reported: [],
    dueMs,
  });

  it('applies a step to the slots it holds: changed, added, dropped; due at the earliest; gone when empty', () => {
    const sync = slot('crm.synced|l', NOW + 15 * MIN);
    expect(changedChainDocument([sync], new Map())).toBeUndefined();
    const both = changedChainDocument([sync], new Map([['followup.sent|l', slot('followup.sent|l', NOW + 60 * MIN)]]))!;
    expect(both).toEqual({ slots: [sync, slot('followup.sent|l', NOW + 60 * MIN)], dueMs: NOW + 15 * MIN });
    const seen = changedChainDocument(both.slots, new Map([['crm.synced|l', slot('crm.synced|l', null, true)]]))!;
    expect(seen).toEqual({ slots: [slot('crm.synced|l', null, true), slot('followup.sent|l', NOW + 60 * MIN)], dueMs: NOW + 60 * MIN });
    // It lives as long as its longest-lived slot: the seen successor, for the retention.
    expect(chainDocumentExpiry(seen, ctx)).toBe(NOW + ctx.config.retentionMs);
    expect(changedChainDocument(seen.slots, new Map([['followup.sent|l', null]]))).toEqual({ slots: [slot('crm.synced|l', null, true)], dueMs: null });
    expect(changedChainDocument([sync], new Map([['crm.synced|l', null]]))).toBeNull();
  });
});

describe('the in-memory store', () => {
  it('a number recorded twice before its fold is a repeat; folding consumes the records', async () => {
    const store = new MemoryGapStore();
    const m = { source: '//a', seq: '1', eventId: 'e1', type: 'lead.tagged', timeMs: T0, watermarkMs: T0 };
    expect(await store.recordSequence(m)).toBe('recorded');
    expect(await store.recordSequence(m)).toBe('repeat');
    expect(await store.oldestPendingSource()).toBe('//a');
    await store.foldSource('//a', T0, ctx, fold);
    expect(await store.oldestPendingSource()).toBeUndefined();
    expect(await store.recordSequence(m)).toBe('recorded');
    expect(await store.foldSource('//a', T0, ctx, fold)).toEqual([]);
  });

  it('paces folds of one source unless forced', async () => {
    const store = new MemoryGapStore();
    await store.recordSequence({ source: '//a', seq: '1', eventId: 'e1', type: 'lead.tagged', timeMs: T0, watermarkMs: T0 });
    await store.foldSource('//a', T0, ctx, fold);
    await store.recordSequence({ source: '//a', seq: '3', eventId: 'e3', type: 'lead.tagged', timeMs: T0, watermarkMs: T0 });
    const paced = { force: false, minIntervalMs: 1000 };
    expect(await store.foldSource('//a', T0 + 6 * MIN, ctx, paced)).toEqual([]);
    expect(store.markers.size).toBe(1);
    expect(findings(await store.foldSource('//a', T0 + 6 * MIN, ctx, { ...paced, force: true }))).toEqual([
      { kind: 'gap', action: 'reported', source: '//a', from_sequence: 2, to_sequence: 2 },
    ]);
  });

  it('the watermark is the highest any writer recorded, and never goes back', async () => {
    const store = new MemoryGapStore();
    expect(await store.readWatermark()).toBe(Number.NEGATIVE_INFINITY);
    await store.advanceWatermark('a', 10);
    await store.advanceWatermark('b', 30);
    await store.advanceWatermark('b', 20);
    expect(await store.readWatermark()).toBe(30);
  });
});
