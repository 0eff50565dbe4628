import { BusinessEvent } from '../../shared/events/envelope';
import { parseRfc3339 } from '../../shared/events/time';
import { dedupKeys, type Judgement } from '../../functions/deduplicator/core';
import { MemoryDedupStore } from '../../functions/deduplicator/state';
import { prng } from '../../cli/generate/log';
import { keyDigests, WindowDedupStore } from '../../cli/replay/window-dedup';
import * as fx from '../support/events';

const NOW = Date.parse('2027-01-01T00:00:00Z');
const T0 = Date.parse('2026-03-01T00:00:00Z');
const MINUTE = 60_000;

interface Arrival {
  readonly event: BusinessEvent;
  readonly timeMs: number;
  readonly canonicalTime: string;
}

function arrival(raw: object): Arrival {
  const event = BusinessEvent.parse(JSON.parse(JSON.stringify(raw)));
  const instant = parseRfc3339(event.time)!;
  return { event, timeMs: instant.ms, canonicalTime: instant.canonical };
}

/** The replay engine's use of the store: evict at each watermark advance, then judge. */
function replayWindowed(arrivals: readonly Arrival[], windowMs: number, chunkBits?: number, tableSlots?: number): { judgements: Judgement[]; maxRows: number } {
  const store = new WindowDedupStore(chunkBits, tableSlots);
  const ctx = { now: NOW, config: { windowMs, leaseMs: 120_000 } };
  const digests = new Uint32Array(12);
  let watermark = Number.NEGATIVE_INFINITY;
  let maxRows = 0;
  const judgements = arrivals.map((a, i) => {
    if (a.timeMs > watermark) {
      watermark = a.timeMs;
      store.evictBefore(watermark - windowMs);
    }
    const mask = keyDigests(a.event, a.canonicalTime, digests, 0);
    const j = store.judgeAndClaim({ id: a.event.id, event: a.event, timeMs: a.timeMs, line: i + 1, digests, offset: 0, mask }, ctx);
    maxRows = Math.max(maxRows, store.rows);
    return j;
  });
  return { judgements, maxRows };
}

/** The unbounded reference: the deduplicator's in-memory store, nothing ever evicted. */
function replayUnbounded(arrivals: readonly Arrival[], windowMs: number): Judgement[] {
  const store = new MemoryDedupStore();
  const ctx = { now: NOW, config: { windowMs, leaseMs: 120_000 } };
  return arrivals.map((a, i) =>
    store.judgeAndClaimSync({ event: a.event, timeMs: a.timeMs, ingestId: `${i + 1}`, keys: dedupKeys(a.event, a.canonicalTime) }, ctx),
  );
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * A log in time order over many windows, with injected duplicates (same id, same business key, or
 * same content) a few events after their original, and business keys and content reused both
 * within the window and long after it. Every duplicate arrives before the watermark
 * has passed its original by more than the window: the logs on which eviction changes nothing.
 */
function randomLog(count: number, seed: number): Arrival[] {
  const random = prng(seed);
  const out: Arrival[] = [];
  for (let i = 0; i < count; i++) {
    const base = T0 + i * 10_000;
    const roll = random();
    if (roll < 0.1 && out.length > 5) {
      // A duplicate of a recent event: same id, same business key, or same content.
      const original = out[out.length - 1 - Math.floor(random() * 5)]!.event;
      const kind = Math.floor(random() * 3);
      if (kind === 0) out.push(arrival({ ...original }));
      else if (kind === 1 && original.type === 'card.scanned') out.push(arrival({ ...original, id: `dup-${i}`, data: { ...original.data, scanned_by: 'other' } }));
      else out.push(arrival({ ...original, id: `dup-${i}` }));
      continue;
    }
    // Business keys come from a small pool per group of 100 events (17 minutes); the pools repeat
    // every 20 groups (5.5 hours): reused within a window, and again long after it.
    const pool = `${Math.floor(i / 100) % 20}-${Math.floor(random() * 4)}`;
    const pick = Math.floor(random() * 3);
    if (pick === 0) out.push(arrival(fx.cardScanned({ id: `e${i}`, time: iso(base), data: { card_id: `card-${pool}` } })));
    else if (pick === 1) out.push(arrival(fx.leadTagged({ id: `e${i}`, time: iso(base - (base % MINUTE)), data: { lead_id: `lead-${Math.floor(random() * 20)}` } })));
    else out.push(arrival(fx.saleRecorded({ id: `e${i}`, time: iso(base), data: { order_id: `order-${pool}` } })));
  }
  return out;
}

describe('replay dedup state bounded by the window', () => {
  it.each([
    ['a 30-minute window', 30 * MINUTE, 1, 4000, 16],
    ['a 2-hour window', 120 * MINUTE, 2, 4000, 16],
    ['a 7-day window (nothing evicted)', 7 * 24 * 60 * MINUTE, 3, 4000, 16],
    // Rows in chunks of 64 (not 64k): dozens of chunks pass, are dropped and reused.
    ['a 2-hour window, chunks of 64 rows', 120 * MINUTE, 5, 4000, 6],
  ])('judges like the unbounded store, %s', (_name, windowMs, seed, count, chunkBits) => {
    const log = randomLog(count, seed);
    const windowed = replayWindowed(log, windowMs, chunkBits);
    const unbounded = replayUnbounded(log, windowMs);
    expect(windowed.judgements).toEqual(unbounded);
    // The log has duplicates of every basis, and keys reused after their window: a real test.
    const bases = new Set(unbounded.flatMap((j) => (j.kind === 'duplicate' ? [j.basis] : [])));
    expect([...bases].sort()).toEqual(['business_key', 'content', 'id']);
  });

  it('holds exactly the accepted events of the last window on a log in time order', () => {
    const windowMs = 30 * MINUTE;
    const log = randomLog(4000, 4);
    const accepted = replayUnbounded(log, windowMs).flatMap((j, i) => (j.kind === 'accept' ? [log[i]!.timeMs] : []));
    // At each arrival, the accepted events no older than watermark − window (times are in order).
    let expected = 0;
    for (let i = 0, from = 0; i < accepted.length; i++) {
      while (accepted[from]! < accepted[i]! - windowMs) from++;
      expected = Math.max(expected, i - from + 1);
    }
    const { maxRows } = replayWindowed(log, windowMs);
    expect(maxRows).toBe(expected);
    expect(maxRows).toBeLessThan(accepted.length / 10);
  });

  it('keeps ids exactly, Latin-1 or not, as a chunk widens from one byte a unit to two', () => {
    const ids = ['plain-1', 'caf\u00e9-2', '\u6f22\u5b57-3', 'smile-\ud83d\ude00-4', 'plain-5'];
    const log = ids.flatMap((id, i) => [
      arrival(fx.cardScanned({ id, time: iso(T0 + i * 1000), data: { card_id: `card-${i}` } })),
      // The same id again (the id rule compares it exactly), and the same card under another id.
      arrival(fx.cardScanned({ id, time: iso(T0 + i * 1000 + 1), data: { card_id: `other-${i}` } })),
      arrival(fx.cardScanned({ id: `x-${i}`, time: iso(T0 + i * 1000 + 2), data: { card_id: `card-${i}` } })),
    ]);
    const windowed = replayWindowed(log, 60 * MINUTE, 2).judgements;
    expect(windowed).toEqual(replayUnbounded(log, 60 * MINUTE));
    expect(windowed.filter((j) => j.kind === 'duplicate').map((j) => (j.kind === 'duplicate' ? j.duplicateOf : ''))).toEqual(ids.flatMap((id) => [id, id]));
  });

  it('forgets an original once the watermark has passed it by more than the window', () => {
    // The boundary of the bound: a duplicate arriving later than that is accepted (the unbounded
    // state, which never forgets, would still drop it). GCP's TTL on the dedup keys does the same.
    const log = [
      arrival(fx.cardScanned({ id: 'a', time: iso(T0), data: { card_id: 'c1' } })),
      arrival(fx.leadTagged({ id: 'x', time: iso(T0 + 31 * MINUTE) })),
      arrival(fx.cardScanned({ id: 'b', time: iso(T0 + 29 * MINUTE), data: { card_id: 'c1' } })),
    ];
    expect(replayWindowed(log, 30 * MINUTE).judgements[2]).toEqual({ kind: 'accept', takeover: false });
    expect(replayUnbounded(log, 30 * MINUTE)[2]).toEqual({ kind: 'duplicate', basis: 'business_key', duplicateOf: 'a' });
  });

  it('a key taken over by a later event outlives the evicted event that first held it', () => {
    const hour = 60 * MINUTE;
    const log = [
      arrival(fx.cardScanned({ id: 'a', time: iso(T0), data: { card_id: 'c1' } })),
      // Two hours later: outside the window of `a`, so accepted, and now holds card c1.
      arrival(fx.cardScanned({ id: 'b', time: iso(T0 + 2 * hour), data: { card_id: 'c1' } })),
      // Moves the watermark: `a` is evicted, `b` is not.
      arrival(fx.leadTagged({ id: 'x', time: iso(T0 + 2 * hour + 30 * MINUTE) })),
      arrival(fx.cardScanned({ id: 'c', time: iso(T0 + 2 * hour + 40 * MINUTE), data: { card_id: 'c1' } })),
    ];
    const { judgements } = replayWindowed(log, hour);
    expect(judgements.map((j) => j.kind)).toEqual(['accept', 'accept', 'accept', 'duplicate']);
    expect(judgements[3]).toEqual({ kind: 'duplicate', basis: 'business_key', duplicateOf: 'b' });
    expect(judgements).toEqual(replayUnbounded(log, hour));
  });

  it('a key taken over keeps its new holder as the table doubles and the old holder is evicted', () => {
    const hour = 60 * MINUTE;
    const dupOfB = { kind: 'duplicate', basis: 'business_key', duplicateOf: 'b' };
    const log = [
      // Arrives first with a later time: eviction, in arrival order, waits for it.
      arrival(fx.leadTagged({ id: 'p', time: iso(T0 + 2 * hour + 15 * MINUTE) })),
      arrival(fx.cardScanned({ id: 'a', time: iso(T0), data: { card_id: 'c1' } })),
      // Outside the window of `a`, which is still held: `b` takes the card's key over.
      arrival(fx.cardScanned({ id: 'b', time: iso(T0 + 2 * hour + 30 * MINUTE), data: { card_id: 'c1' } })),
      // Enough keys for the table (8 slots) to double several times while `a` and `b` are both held.
      ...Array.from({ length: 200 }, (_, i) => arrival(fx.leadTagged({ id: `t${i}`, time: iso(T0 + 2 * hour + 31 * MINUTE), data: { lead_id: `l${i}` } }))),
      arrival(fx.cardScanned({ id: 'c', time: iso(T0 + 2 * hour + 40 * MINUTE), data: { card_id: 'c1' } })),
      // `p` and `a` are evicted; `b` is not, and still holds the card.
      arrival(fx.leadTagged({ id: 'q', time: iso(T0 + 3 * hour + 20 * MINUTE) })),
      arrival(fx.cardScanned({ id: 'd', time: iso(T0 + 3 * hour + 25 * MINUTE), data: { card_id: 'c1' } })),
    ];
    const { judgements } = replayWindowed(log, hour, 2, 8);
    expect(judgements).toEqual(replayUnbounded(log, hour));
    expect(judgements[2]).toEqual({ kind: 'accept', takeover: false });
    expect(judgements.at(-3)).toEqual(dupOfB);
    expect(judgements.at(-1)).toEqual(dupOfB);
  });

  it('keeps working as chunks pass and the table grows', () => {
    // 20,000 distinct events, a window of 1,000 of them: rows are evicted many times over.
    const log = Array.from({ length: 20_000 }, (_, i) => arrival(fx.leadTagged({ id: `t${i}`, time: iso(T0 + i * 1000), data: { lead_id: `l${i}` } })));
    const again = log.slice(15_000, 15_010).map((a) => a.event);
    const withDuplicates = [...log.slice(0, 15_100), ...again.map((e) => arrival({ ...e })), ...log.slice(15_100)];
    const { judgements, maxRows } = replayWindowed(withDuplicates, 1000 * 1000);
    expect(maxRows).toBeLessThanOrEqual(1002);
    expect(judgements.filter((j) => j.kind === 'duplicate')).toEqual(again.map((e) => ({ kind: 'duplicate', basis: 'id', duplicateOf: e.id })));
  });
});
