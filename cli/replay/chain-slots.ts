import type { GapDecision, GapState, SlotTable } from '../../functions/gap-detector/core';
import { SEEN, type Slot, type SlotState } from '../../functions/gap-detector/slots';
import { digest128 } from './digest';
import { ProbeTable } from './probe-table';

/**
 * The gap-detector's chain state for replay (its `GapState.slots`), bounded by a retention of
 * event time, with the counterpart of the Firestore TTL the function sets on its records
 * (records.ts `slotExpiry`), and kept small.
 *
 * Retention: a key whose successor came, or whose upstreams were all reported broken, is
 * forgotten once the watermark has passed the last such settling change by more than
 * `retentionMs`; a key with an upstream still waiting is never forgotten (it settles again by its
 * deadline). A forgotten key answers as a key never seen: a successor arriving after that no
 * longer closes a reported upstream late, and an upstream arriving after that waits for a
 * successor that already came. Findings are therefore those of a state that forgets nothing on
 * every log whose chain partners arrive within the retention of each other (by watermark), as in
 * GCP, where the same records expire after the same retention.
 *
 * Size: almost every key held is settled with nothing waiting: seen (its successor came), or
 * holding only the ids of upstreams reported broken. Those are rows, in the order they settled
 * (which is the order they expire in), of 96 bits of the key's digest (digest.ts), the time
 * they settled and the reported ids, with an open-addressing table over the digests: no key
 * string, no `Slot`, no map entry, little for a major GC to mark. A row read as a `Slot` (a
 * successor or another upstream came for a reported key) becomes an open one again, since the
 * decider changes the `Slot` it reads. Two different keys share 96 bits with probability about
 * n²/2^97 for n keys held (the dedup window's figure, window-dedup.ts). Keys with upstreams
 * waiting are the decider's own `Slot` objects in a Map, as in the function.
 */
export class RetainedSlots implements SlotTable {
  /** Keys with a `Slot` in hand: upstreams waiting there, or a settled row read back. */
  private readonly open = new Map<string, Slot>();
  /** Open keys' last settling change, by watermark. */
  private readonly openChanges = new Map<string, number>();
  /** Settling changes of open keys noted while they stayed open, in order; a key's latest is the one `openChanges` holds. */
  private queueKeys: string[] = [];
  private queueTimes: number[] = [];
  private queueHead = 0;

  /**
   * Settled rows [head, tail) by absolute number, row r at position r & (capacity − 1): 3 digest
   * words, the time it settled, and the ids reported broken there (one id, or several; none for
   * a seen key). A row out of the table was read back (`readBack`: row → its key) or is dead.
   */
  private capacity: number;
  private digests: Uint32Array;
  private times: Float64Array;
  private ids: Array<string | readonly string[] | undefined>;
  private head = 0;
  private tail = 0;
  private readonly readBack = new Map<number, string>();
  /** Digest → row: each value 1 + the row's position, homed by the row's first digest word. */
  private readonly table: ProbeTable;
  /**
   * The last two keys asked about, with their digests and where they were found: the decider
   * asks about an event's one or two keys while deciding, then again while applying (see
   * `lookup`). `changes` counts changes to `open` and the table, `forgets` the forgetting
   * passes: a table entry in hand is good while no change has moved it; that a key is open, or
   * held nowhere, stays true until that key changes (its answer is then updated) or is forgotten.
   */
  private readonly memo: [Lookup, Lookup] = [newLookup(), newLookup()];
  private memoNext = 0;
  private changes = 0;
  private forgets = 0;

  /**
   * `watermark`: the state's watermark, the time a key is seen at (called as the decider applies
   * `successor_arrived`); `rows`: the rows room is first made for, a power of two (small in
   * tests, to grow and wrap around often).
   */
  constructor(
    private readonly retentionMs: number,
    private readonly watermark: () => number,
    rows = 1 << 12,
  ) {
    this.capacity = rows;
    this.digests = new Uint32Array(rows * WORDS);
    this.times = new Float64Array(rows);
    this.ids = new Array<undefined>(rows).fill(undefined);
    this.table = new ProbeTable(rows * 2, (value) => this.digests[(value - 1) * WORDS]!);
  }

  /** Keys held. */
  get size(): number {
    return this.open.size + this.table.size;
  }

  /** Keys held that will be forgotten once their retention has passed (the others have upstreams waiting). */
  get held(): number {
    return this.openChanges.size + this.table.size;
  }

  get(key: string): SlotState | undefined {
    const l = this.lookup(key);
    if (l.slot !== undefined) return l.slot;
    const at = l.at;
    if (at < 0) return undefined;
    const position = this.table.slots[at]! - 1;
    const ids = this.ids[position];
    if (ids === undefined) return SEEN;
    // Read back as the decider's own Slot, which it may change: open from now on.
    const read: Slot = { waiting: [], reported: typeof ids === 'string' ? [ids] : [...ids] };
    this.changes++;
    this.table.remove(at);
    this.readBack.set(this.rowAt(position), key);
    this.open.set(key, read);
    this.openChanges.set(key, this.times[position]!);
    this.known(l, read);
    return read;
  }

  set(key: string, value: SlotState): this {
    const l = this.lookup(key);
    // A key is open or in the table, never both.
    const at = l.at;
    if (value === SEEN) {
      if (at >= 0 && this.ids[this.table.slots[at]! - 1] === undefined) return this; // seen already
      this.changes++;
      if (l.slot !== undefined) {
        this.open.delete(key);
        this.openChanges.delete(key);
      }
      if (at >= 0) this.table.remove(at);
      this.addRow(this.watermark(), undefined, l.digest);
      l.changes = -1; // in the table now, where is not known
    } else {
      if (l.slot === value) return this;
      this.changes++;
      if (at >= 0) this.table.remove(at);
      this.open.set(key, value);
      this.known(l, value);
    }
    return this;
  }

  delete(key: string): boolean {
    const l = this.lookup(key);
    this.changes++;
    this.openChanges.delete(key);
    const { slot, at } = l;
    this.known(l, undefined);
    if (slot !== undefined) return this.open.delete(key);
    if (at < 0) return false;
    this.table.remove(at);
    return true;
  }

  /**
   * Notes a settling change of an open key (call after the decider applied `d`; seen keys were
   * noted as they were set): with nothing left waiting there, the key becomes a row.
   */
  note(state: GapState, d: GapDecision): void {
    if (d.kind !== 'chain_reported') return;
    const slot = this.open.get(d.key);
    if (slot === undefined) return;
    if (slot.waiting.length === 0) {
      const l = this.lookup(d.key);
      this.changes++;
      this.open.delete(d.key);
      this.openChanges.delete(d.key);
      this.addRow(state.watermarkMs, slot.reported.length === 1 ? slot.reported[0]! : slot.reported, l.digest);
      l.changes = -1; // in the table now, where is not known
      return;
    }
    this.noteOpen(d.key, state.watermarkMs);
  }

  /** Forgets the settled keys whose last change is more than the retention behind the state's watermark. */
  forget(state: GapState): void {
    this.changes++;
    this.forgets++;
    const before = state.watermarkMs - this.retentionMs;
    const mask = this.capacity - 1;
    while (this.head < this.tail && this.times[this.head & mask]! < before) {
      const position = this.head & mask;
      const at = this.table.locate(1 + position);
      if (at >= 0) {
        this.table.remove(at);
      } else {
        const key = this.readBack.get(this.head);
        if (key !== undefined) {
          this.readBack.delete(this.head);
          this.expireOpen(key, this.times[position]!, state.watermarkMs);
        }
      }
      this.ids[position] = undefined;
      this.head++;
    }
    const { queueKeys, queueTimes } = this;
    while (this.queueHead < queueKeys.length && queueTimes[this.queueHead]! < before) {
      const key = queueKeys[this.queueHead]!;
      const changedMs = queueTimes[this.queueHead]!;
      this.queueHead++;
      this.expireOpen(key, changedMs, state.watermarkMs);
    }
    if (this.queueHead > 4096 && this.queueHead * 2 > queueKeys.length) {
      this.queueKeys = queueKeys.slice(this.queueHead);
      this.queueTimes = queueTimes.slice(this.queueHead);
      this.queueHead = 0;
    }
  }

  /** An open key's settling change at `changedMs` has passed its retention: forgotten, unless it changed since or an upstream waits there. */
  private expireOpen(key: string, changedMs: number, watermarkMs: number): void {
    if (this.openChanges.get(key) !== changedMs) return; // changed again since, or seen, or forgotten
    if (this.open.get(key)!.waiting.length > 0) {
      // An upstream opened there after it settled: kept until that one settles too.
      this.noteOpen(key, watermarkMs);
      return;
    }
    this.open.delete(key);
    this.openChanges.delete(key);
  }

  private noteOpen(key: string, ms: number): void {
    this.openChanges.set(key, ms);
    this.queueKeys.push(key);
    this.queueTimes.push(ms);
  }

  /** The absolute number of the live row at `position`. */
  private rowAt(position: number): number {
    return this.head + ((position - this.head) & (this.capacity - 1));
  }

  /**
   * What is held under `key`: its open Slot, or else its table entry (-1 when none), with its
   * digest. Asked again with nothing changed since, the answer is the one in hand; the digest
   * is kept as long as the key is one of the last two asked about.
   */
  private lookup(key: string): Lookup {
    const memo = this.memo;
    let l = memo[0].key === key ? memo[0] : memo[1].key === key ? memo[1] : undefined;
    if (l === undefined) {
      l = memo[this.memoNext]!;
      this.memoNext ^= 1;
      l.key = key;
      digest128(key, l.digest, 0);
      l.changes = -1;
    }
    if (l.changes !== this.changes && !(l.at < 0 && l.changes >= 0 && l.forgets === this.forgets)) {
      l.slot = this.open.get(key);
      l.at = l.slot === undefined ? this.find(l.digest) : -1;
      l.changes = this.changes;
      l.forgets = this.forgets;
    }
    return l;
  }

  /** The key of `l` has just become open with `slot`, or, with none, held nowhere. */
  private known(l: Lookup, slot: Slot | undefined): void {
    l.slot = slot;
    l.at = -1;
    l.changes = this.changes;
    l.forgets = this.forgets;
  }

  /** The table entry of digest `d`, or -1. */
  private find(d: Uint32Array): number {
    const { slots, mask } = this.table;
    for (let at = d[0]! & mask; ; at = (at + 1) & mask) {
      const value = slots[at]!;
      if (value === 0) return -1;
      const o = (value - 1) * WORDS;
      if (this.digests[o] === d[0] && this.digests[o + 1] === d[1] && this.digests[o + 2] === d[2]) return at;
    }
  }

  /** Files digest `d` (of a key not in the table) as the newest row. */
  private addRow(timeMs: number, ids: string | readonly string[] | undefined, d: Uint32Array): void {
    if (this.tail - this.head === this.capacity) this.grow();
    const position = this.tail & (this.capacity - 1);
    this.tail++;
    const o = position * WORDS;
    this.digests[o] = d[0]!;
    this.digests[o + 1] = d[1]!;
    this.digests[o + 2] = d[2]!;
    this.times[position] = timeMs;
    this.ids[position] = ids;
    this.table.insert(1 + position);
  }

  /** Twice the rows: each moves to its position in the larger ring; those in the table are filed there again. */
  private grow(): void {
    const oldMask = this.capacity - 1;
    const mask = this.capacity * 2 - 1;
    const digests = new Uint32Array(this.capacity * 2 * WORDS);
    const times = new Float64Array(this.capacity * 2);
    const ids = new Array<string | readonly string[] | undefined>(this.capacity * 2).fill(undefined);
    const filed: number[] = [];
    for (let r = this.head; r < this.tail; r++) {
      const from = r & oldMask;
      const to = r & mask;
      digests.set(this.digests.subarray(from * WORDS, from * WORDS + WORDS), to * WORDS);
      times[to] = this.times[from]!;
      ids[to] = this.ids[from];
      if (this.table.locate(1 + from) >= 0) filed.push(to);
    }
    this.capacity *= 2;
    this.digests = digests;
    this.times = times;
    this.ids = ids;
    this.table.reset(Math.max(this.table.slots.length, this.capacity * 2));
    for (const to of filed) this.table.insert(1 + to);
  }
}

/** Digest words a row keeps: 96 bits. */
const WORDS = 3;

/** A key asked about (`RetainedSlots.lookup`): its digest, and its open Slot or table entry as of `changes` and `forgets` (-1: not known). */
interface Lookup {
  key: string | undefined;
  readonly digest: Uint32Array;
  slot: Slot | undefined;
  at: number;
  changes: number;
  forgets: number;
}

function newLookup(): Lookup {
  return { key: undefined, digest: new Uint32Array(4), slot: undefined, at: -1, changes: -1, forgets: -1 };
}
