import { BusinessEvent } from '../../shared/events/envelope';
import { parseRfc3339 } from '../../shared/events/time';
import { DEFAULT_DEDUP_CONFIG, dedupKeys, judge, judgeHeldKey, type Candidate, type DedupRecord, type HeldKey, type Judgement, type KeyDecision } from '../../functions/deduplicator/core';
import { MemoryDedupStore } from '../../functions/deduplicator/state';
import { resolveSubscriptions, topology } from '../../shared/topology';
import * as fx from '../support/events';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const ctx = { now: NOW, config: DEFAULT_DEDUP_CONFIG };
const DAY = 24 * 3_600_000;

function candidate(raw: object, ingestId: string): Candidate {
  const event = BusinessEvent.parse(JSON.parse(JSON.stringify(raw)));
  return { event, timeMs: parseRfc3339(event.time)!.ms, ingestId, keys: dedupKeys(event) };
}

/** Given earlier arrivals, when one more arrives, then this judgement. */
function given(earlier: object[], next: object): Judgement {
  const store = new MemoryDedupStore();
  earlier.forEach((e, i) => store.judgeAndClaimSync(candidate(e, `m${i}`), ctx));
  return store.judgeAndClaimSync(candidate(next, 'next'), ctx);
}

describe('duplicate rules (DESIGN §3), first arrival wins', () => {
  const card = fx.cardScanned({ id: 'a', data: { card_id: 'c1' } });

  it.each<[string, object[], object, Judgement]>([
    ['a first arrival is accepted', [], card, { kind: 'accept', takeover: false }],
    ['the same id again', [card], card, { kind: 'duplicate', basis: 'id', duplicateOf: 'a' }],
    ['the same id with other content', [card], fx.cardScanned({ id: 'a', data: { card_id: 'c2' } }), { kind: 'duplicate', basis: 'id', duplicateOf: 'a' }],
    ['the same business key under another id', [card], fx.cardScanned({ id: 'b', data: { card_id: 'c1', scanned_by: 'other' } }), { kind: 'duplicate', basis: 'business_key', duplicateOf: 'a' }],
    ['the same content under another id (no business key)', [fx.leadTagged({ id: 'a' })], fx.leadTagged({ id: 'b' }), { kind: 'duplicate', basis: 'content', duplicateOf: 'a' }],
    ['business key is checked before content', [card], fx.cardScanned({ id: 'b', data: { card_id: 'c1' } }), { kind: 'duplicate', basis: 'business_key', duplicateOf: 'a' }],
    ['a business key of another type is not a duplicate', [card], fx.leadCreated({ id: 'b', data: { card_id: 'c1' } }), { kind: 'accept', takeover: false }],
    ['same content at another time is not a duplicate', [fx.leadTagged({ id: 'a' })], fx.leadTagged({ id: 'b', time: '2026-03-01T10:00:01Z' }), { kind: 'accept', takeover: false }],
    ['same content from another source is not a duplicate', [fx.leadTagged({ id: 'a' })], fx.leadTagged({ id: 'b', source: '//other' }), { kind: 'accept', takeover: false }],
    ['duplicate_of names the accepted event, not an earlier duplicate', [card, fx.cardScanned({ id: 'b', data: { card_id: 'c1' } })], fx.cardScanned({ id: 'b', data: { card_id: 'c1' } }), { kind: 'duplicate', basis: 'business_key', duplicateOf: 'a' }],
    ['within the window (7 days apart)', [card], fx.cardScanned({ id: 'b', time: '2026-03-08T10:00:00Z', data: { card_id: 'c1' } }), { kind: 'duplicate', basis: 'business_key', duplicateOf: 'a' }],
    ['outside the window', [card], fx.cardScanned({ id: 'b', time: '2026-03-08T10:00:00.001Z', data: { card_id: 'c1' } }), { kind: 'accept', takeover: false }],
    ['crm.synced: one lead in two CRMs is not a duplicate', [fx.crmSynced({ id: 'a' })], fx.crmSynced({ id: 'b', data: { crm: 'salesforce' } }), { kind: 'accept', takeover: false }],
    ['lead.created without card_id has no business key', [fx.leadCreated({ id: 'a', data: { card_id: undefined } })], fx.leadCreated({ id: 'b', data: { card_id: undefined, lead_id: 'l2' } }), { kind: 'accept', takeover: false }],
  ])('%s', (_name, earlier, next, expected) => {
    expect(given(earlier, next)).toEqual(expected);
  });
});

describe('redelivery of one message', () => {
  const c = candidate(fx.saleRecorded({ id: 's1' }), 'msg-1');

  it('past the lease, takes over a claim whose event was forwarded too: no mark tells it apart, the copy carries the same ingest id', () => {
    const store = new MemoryDedupStore();
    expect(store.judgeAndClaimSync(c, ctx)).toEqual({ kind: 'accept', takeover: false });
    // (forwarded here; the ack was lost)
    const later = { ...ctx, now: NOW + DEFAULT_DEDUP_CONFIG.leaseMs + 1 };
    expect(store.judgeAndClaimSync(c, later)).toEqual({ kind: 'accept', takeover: true });
    // The takeover holds a lease of its own, and any other delivery of the event is still a duplicate.
    expect(store.judgeAndClaimSync(c, { ...later, now: later.now + 1000 })).toEqual({ kind: 'in_flight' });
    expect(store.judgeAndClaimSync({ ...c, ingestId: 'msg-2' }, later)).toEqual({ kind: 'duplicate', basis: 'id', duplicateOf: 's1' });
  });

  it('waits while another delivery holds the claim, then takes it over when the lease ran out', () => {
    const store = new MemoryDedupStore();
    expect(store.judgeAndClaimSync(c, ctx)).toEqual({ kind: 'accept', takeover: false });
    expect(store.judgeAndClaimSync(c, { ...ctx, now: NOW + 1000 })).toEqual({ kind: 'in_flight' });
    expect(store.judgeAndClaimSync(c, { ...ctx, now: NOW + DEFAULT_DEDUP_CONFIG.leaseMs + 1 })).toEqual({ kind: 'accept', takeover: true });
  });

  it('another message with the same event is a duplicate, even before the first was forwarded', () => {
    const store = new MemoryDedupStore();
    store.judgeAndClaimSync(c, ctx);
    expect(store.judgeAndClaimSync({ ...c, ingestId: 'msg-2' }, ctx)).toEqual({ kind: 'duplicate', basis: 'id', duplicateOf: 's1' });
  });

  it('keeps one record object per accepted event, shared by its keys', () => {
    const store = new MemoryDedupStore();
    store.judgeAndClaimSync(c, ctx);
    expect(store.size).toBe(3);
    expect(given([], fx.leadTagged())).toEqual({ kind: 'accept', takeover: false });
  });

  it('a window of one day', () => {
    const store = new MemoryDedupStore();
    const small = { now: NOW, config: { ...DEFAULT_DEDUP_CONFIG, windowMs: DAY } };
    store.judgeAndClaimSync(c, small);
    const later = candidate(fx.saleRecorded({ id: 's2', time: '2026-03-02T10:00:01Z' }), 'm2');
    expect(store.judgeAndClaimSync(later, small)).toEqual({ kind: 'accept', takeover: false });
  });
});

describe('the claim lease against the retry policy', () => {
  it('lets the third delivery attempt take over the claim of an instance that died, keeping later attempts in reserve', () => {
    const sub = resolveSubscriptions(topology).find((s) => s.name === 'deduplicator-events-raw')!;
    const { minimumBackoffSeconds: min, maximumBackoffSeconds: max } = sub.retryPolicy;
    // The third attempt comes after the backoffs of the first two (exponential from the minimum).
    const thirdAttemptAfterMs = (Math.min(max, min) + Math.min(max, 2 * min)) * 1000;
    expect(DEFAULT_DEDUP_CONFIG.leaseMs).toBeLessThan(thirdAttemptAfterMs);
    expect(sub.maxDeliveryAttempts).toBeGreaterThan(3);
  });
});

describe('one held key of a claim made key by key (the Bigtable store)', () => {
  // A card: keys id (0), business key (1), content (2); the keys before `index` were free.
  const c = candidate(fx.cardScanned({ id: 'a', data: { card_id: 'c1' } }), 'msg-a');
  const other = (over: Partial<DedupRecord> = {}): DedupRecord => ({ eventId: 'b', eventTimeMs: c.timeMs, ingestId: 'msg-b', leaseUntil: NOW + 1000, ...over });
  const own = (over: Partial<DedupRecord> = {}): DedupRecord => other({ eventId: 'a', ingestId: 'msg-a', ...over });
  const held = (record: DedupRecord, state: HeldKey['state']): HeldKey => ({ record, state });

  it.each<[string, number, HeldKey, KeyDecision]>([
    ["another event's committed business key: a duplicate on that basis", 1, held(other(), 'committed'), { kind: 'duplicate', basis: 'business_key', duplicateOf: 'b' }],
    ["another event's committed content beyond the window: taken", 2, held(other({ eventTimeMs: c.timeMs - 7 * DAY - 1 }), 'committed'), { kind: 'take', takeover: false }],
    ["another delivery's pending claim within its lease: wait, never counted yet", 1, held(other(), 'pending'), { kind: 'wait' }],
    ["another delivery's pending claim beyond the window within its lease: wait too (it may commit)", 1, held(other({ eventTimeMs: c.timeMs - 8 * DAY }), 'pending'), { kind: 'wait' }],
    ["another delivery's pending claim past its lease (it died): taken", 0, held(other({ leaseUntil: NOW }), 'pending'), { kind: 'take', takeover: false }],
    ['a void claim (its primary was aborted), even within its lease: taken', 2, held(other(), 'void'), { kind: 'take', takeover: false }],
    ['this delivery, committed within the lease: in flight', 0, held(own(), 'committed'), { kind: 'in_flight' }],
    ['this delivery, pending within the lease: in flight', 0, held(own(), 'pending'), { kind: 'in_flight' }],
    ['this delivery, committed past the lease: taken over', 0, held(own({ leaseUntil: NOW }), 'committed'), { kind: 'take', takeover: true }],
    ['this delivery, pending past the lease: taken over', 1, held(own({ leaseUntil: NOW - 1 }), 'pending'), { kind: 'take', takeover: true }],
  ])('%s', (_name, index, key, expected) => {
    expect(judgeHeldKey(c, index, key, ctx)).toEqual(expected);
  });

  it('a committed key decides as judge decides over the whole list when the keys before it are free', () => {
    const records = [other(), other({ eventTimeMs: c.timeMs + 8 * DAY }), own({ leaseUntil: NOW - 1 }), own()];
    for (const record of records) {
      for (let index = 0; index < c.keys.length; index++) {
        const whole = judge(c, c.keys.map((_, i) => (i === index ? record : undefined)), ctx);
        const one = judgeHeldKey(c, index, held(record, 'committed'), ctx);
        expect(one).toEqual(whole.kind === 'accept' ? { kind: 'take', takeover: whole.takeover } : whole);
      }
    }
  });
});
