import { claimRecord, judge, type DedupRecord, type DeduplicatorConfig, type Judgement } from '../../functions/deduplicator/core';
import type { BusinessEvent } from '../../shared/events/envelope';
import { businessKey, contentText } from '../../shared/events/keys';
import { digest128 } from './digest';

/**
 * The deduplicator's state for embedded replay, bounded by the window instead of the log.
 *
 * Each accepted event is a row (id, event time, line, three 128-bit key digests) in a ring in
 * arrival order; one open-addressing table maps a digest to the row holding it. When the watermark
 * moves, rows whose event time is older than watermark − window are evicted from the head of the
 * ring: no later event within the window of the watermark can match them (DESIGN §3), so the
 * findings are those of an unbounded state on every log whose duplicates arrive before the
 * watermark has passed their original by more than the window. Eviction goes in arrival order:
 * a row holds the ones behind it until its own time expires, which bounds the state by what
 * arrives while the watermark advances one window.
 *
 * Keys are 128-bit digests (digest.ts); a table entry names its rule, so the three rules never
 * meet. The `id` rule compares the stored id exactly on a hit, so two ids never collide. For the
 * business-key and content rules a collision of two different keys would be a false duplicate:
 * with n keys held at once its probability is about n²/2^129: 1.3e-24 even if all 3e7 keys of
 * 10M events were held at once (1e-12 would take 2.6e13 keys).
 */

/** Words (u32) per digest and per row. */
const DIGEST_WORDS = 4;
const KEYS = 3; // id, business_key, content: the bases in rule order
const ROW_WORDS = DIGEST_WORDS * KEYS;
const BASES = ['id', 'business_key', 'content'] as const;
const BUSINESS_KEY_BIT = 0b010; // the business key's bit in a mask

/**
 * The key digests of an event, in rule order, written into `out` at `offset` (12 words); returns
 * which keys exist as a bit mask (bit i for basis i: the business key may be absent). The texts
 * are those of `dedupKeys`: the id, `businessKey`, and the canonical content text.
 */
export function keyDigests(event: BusinessEvent, canonicalTime: string, out: Uint32Array, offset: number): number {
  digest128(event.id, out, offset);
  const bk = businessKey(event);
  let mask = 0b111;
  if (bk === undefined) {
    mask &= ~BUSINESS_KEY_BIT;
    out.fill(0, offset + DIGEST_WORDS, offset + 2 * DIGEST_WORDS);
  } else {
    digest128(bk, out, offset + DIGEST_WORDS);
  }
  digest128(contentText(event, canonicalTime), out, offset + 2 * DIGEST_WORDS);
  return mask;
}

export interface WindowCandidate {
  readonly event: BusinessEvent;
  readonly timeMs: number;
  /** The input line: a replay's delivery identity. */
  readonly line: number;
  /** `keyDigests` of the event and its mask. */
  readonly digests: Uint32Array;
  readonly offset: number;
  readonly mask: number;
}

export interface WindowContext {
  readonly now: number;
  readonly config: DeduplicatorConfig;
}

export class WindowDedupStore {
  // The ring of rows: slot = row & (capacity - 1); rows [head, next) are live.
  private capacity = 1 << 16; // grows by doubling; 64k rows (about 4 MB) to start spares most regrowth
  private ids: string[] = new Array<string>(this.capacity);
  private times = new Float64Array(this.capacity);
  private lines = new Float64Array(this.capacity);
  private masks = new Uint8Array(this.capacity);
  private digests = new Uint32Array(this.capacity * ROW_WORDS);
  private head = 0;
  private next = 0;
  // The table: each slot holds 1 + (ring slot * 3 + basis), 0 when empty; linear probing.
  private tableBits = 18;
  private table = new Int32Array(1 << this.tableBits);
  private keyCount = 0;
  // Reused by judge: what the state holds under each key of the candidate.
  private readonly existing: Array<DedupRecord | undefined> = [undefined, undefined, undefined];
  // The candidate's keys as `judge` sees them (it reads only their bases): with and without a business key.
  private readonly allKeys = BASES.map((basis) => ({ basis, key: '' }));
  private readonly noBusinessKey = [this.allKeys[0]!, this.allKeys[2]!];

  /** How many accepted events are held. */
  get rows(): number {
    return this.next - this.head;
  }

  /** How many keys are held, over all rules. */
  get size(): number {
    return this.keyCount;
  }

  /**
   * Judges the candidate with the deduplicator's own `judge` and, when it is accepted, claims its
   * keys. Lines are never redelivered, so the judgement is `accept` or `duplicate`.
   */
  judgeAndClaim(c: WindowCandidate, ctx: WindowContext): Judgement {
    const existing = this.existing;
    const keys = (c.mask & BUSINESS_KEY_BIT) === 0 ? this.noBusinessKey : this.allKeys;
    let n = 0;
    for (let b = 0; b < KEYS; b++) {
      if ((c.mask & (1 << b)) === 0) continue;
      const found = this.find(c.digests, c.offset + b * DIGEST_WORDS, b, b === 0 ? c.event.id : undefined);
      existing[n++] = found < 0 ? undefined : this.record(this.rowOf(found));
    }
    existing.length = n;
    const judgement = judge({ event: c.event, timeMs: c.timeMs, ingestId: `${c.line}`, keys }, existing, ctx);
    if (judgement.kind === 'accept') this.claim(c, ctx);
    return judgement;
  }

  /** Forgets the accepted events whose time is before `ms` (watermark − window), oldest arrivals first. */
  evictBefore(ms: number): void {
    const mask = this.capacity - 1;
    while (this.head < this.next) {
      const slot = this.head & mask;
      if (this.times[slot]! >= ms) return;
      for (let b = 0; b < KEYS; b++) {
        if ((this.masks[slot]! & (1 << b)) === 0) continue;
        const at = this.find(this.digests, slot * ROW_WORDS + b * DIGEST_WORDS, b, b === 0 ? this.ids[slot] : undefined);
        // Only if the key still names this row: a later accepted event may have taken it over.
        if (at >= 0 && this.table[at] === 1 + slot * KEYS + b) this.remove(at);
      }
      this.ids[slot] = '';
      this.head++;
    }
  }

  private record(slot: number): DedupRecord {
    return {
      eventId: this.ids[slot]!,
      eventTimeMs: this.times[slot]!,
      ingestId: `${this.lines[slot]!}`,
      forwarded: false,
      leaseUntil: Number.NEGATIVE_INFINITY,
    };
  }

  private rowOf(tableSlot: number): number {
    return Math.floor((this.table[tableSlot]! - 1) / KEYS);
  }

  private claim(c: WindowCandidate, ctx: WindowContext): void {
    if (this.next - this.head === this.capacity) this.growRing();
    const claim = claimRecord({ event: c.event, timeMs: c.timeMs, ingestId: `${c.line}`, keys: [] }, ctx);
    const slot = this.next & (this.capacity - 1);
    this.next++;
    this.ids[slot] = claim.eventId;
    this.times[slot] = claim.eventTimeMs;
    this.lines[slot] = c.line;
    this.masks[slot] = c.mask;
    this.digests.set(c.digests.subarray(c.offset, c.offset + ROW_WORDS), slot * ROW_WORDS);
    for (let b = 0; b < KEYS; b++) {
      if ((c.mask & (1 << b)) === 0) continue;
      const value = 1 + slot * KEYS + b;
      const at = this.find(this.digests, slot * ROW_WORDS + b * DIGEST_WORDS, b, b === 0 ? claim.eventId : undefined);
      if (at >= 0) {
        this.table[at] = value; // the key's earlier holder is outside the window: Map.set semantics
      } else {
        if ((this.keyCount + 1) * 2 > this.table.length) this.growTable();
        this.insert(value);
      }
    }
  }

  /** The table slot holding the digest at `words[offset]` under `basis` (and, for ids, that id), or -1. */
  private find(words: Uint32Array, offset: number, basis: number, id: string | undefined): number {
    const tableMask = this.table.length - 1;
    let at = words[offset]! & tableMask;
    for (;;) {
      const value = this.table[at]!;
      if (value === 0) return -1;
      const row = Math.floor((value - 1) / KEYS);
      const b = value - 1 - row * KEYS;
      const o = row * ROW_WORDS + b * DIGEST_WORDS;
      const d = this.digests;
      if (
        b === basis &&
        d[o] === words[offset] &&
        d[o + 1] === words[offset + 1] &&
        d[o + 2] === words[offset + 2] &&
        d[o + 3] === words[offset + 3] &&
        (id === undefined || this.ids[row] === id)
      ) {
        return at;
      }
      at = (at + 1) & tableMask;
    }
  }

  private insert(value: number): void {
    const tableMask = this.table.length - 1;
    const row = Math.floor((value - 1) / KEYS);
    const b = value - 1 - row * KEYS;
    let at = this.digests[row * ROW_WORDS + b * DIGEST_WORDS]! & tableMask;
    while (this.table[at] !== 0) at = (at + 1) & tableMask;
    this.table[at] = value;
    this.keyCount++;
  }

  /** Linear-probing deletion by backward shift: no tombstones, probes stay short. */
  private remove(at: number): void {
    const table = this.table;
    const tableMask = table.length - 1;
    let hole = at;
    let i = at;
    for (;;) {
      i = (i + 1) & tableMask;
      const value = table[i]!;
      if (value === 0) break;
      const row = Math.floor((value - 1) / KEYS);
      const b = value - 1 - row * KEYS;
      const home = this.digests[row * ROW_WORDS + b * DIGEST_WORDS]! & tableMask;
      // Move the entry into the hole unless its home lies cyclically in (hole, i].
      const inRange = hole <= i ? home > hole && home <= i : home > hole || home <= i;
      if (!inRange) {
        table[hole] = value;
        hole = i;
      }
    }
    table[hole] = 0;
    this.keyCount--;
  }

  private growTable(): void {
    const old = this.table;
    this.tableBits++;
    this.table = new Int32Array(1 << this.tableBits);
    this.keyCount = 0;
    for (let i = 0; i < old.length; i++) if (old[i] !== 0) this.insert(old[i]!);
  }

  /** Doubles the ring; rows keep their order, so their slots (and the table) are rebuilt. */
  private growRing(): void {
    const oldCapacity = this.capacity;
    const oldMask = oldCapacity - 1;
    const { ids, times, lines, masks, digests } = this;
    this.capacity *= 2;
    this.ids = new Array<string>(this.capacity);
    this.times = new Float64Array(this.capacity);
    this.lines = new Float64Array(this.capacity);
    this.masks = new Uint8Array(this.capacity);
    this.digests = new Uint32Array(this.capacity * ROW_WORDS);
    const newMask = this.capacity - 1;
    const remap = new Int32Array(oldCapacity).fill(-1);
    for (let r = this.head; r < this.next; r++) {
      const from = r & oldMask;
      const to = r & newMask;
      remap[from] = to;
      this.ids[to] = ids[from]!;
      this.times[to] = times[from]!;
      this.lines[to] = lines[from]!;
      this.masks[to] = masks[from]!;
      this.digests.set(digests.subarray(from * ROW_WORDS, (from + 1) * ROW_WORDS), to * ROW_WORDS);
    }
    const table = this.table;
    for (let i = 0; i < table.length; i++) {
      const value = table[i]!;
      if (value === 0) continue;
      const row = Math.floor((value - 1) / KEYS);
      table[i] = 1 + remap[row]! * KEYS + (value - 1 - row * KEYS);
    }
  }
}
