import type { GapDecision, GapState, SlotTable } from '../../functions/gap-detector/core';
import { SEEN, type Slot, type SlotState } from '../../functions/gap-detector/slots';
import { digest128 } from './digest';

/**
 * The gap-detector's chain state for replay (its `GapState.slots`), bounded by a retention of
 * event time and kept small, with the counterpart of the Firestore TTL the function sets on its
 * records (records.ts `slotExpiry`).
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
 * Size: most keys held are seen (their successor came), and a seen key is only a fact. Those are
 * rows of 96 bits of the key's digest (digest.ts) and the time they were seen, in the order they
 * were seen (which is the order they expire in), with an open-addressing table over the digests:
 * about 30 bytes a key, where a string key in two maps took about 150, and nothing for a major GC
 * to mark. Two different keys share 96 bits with probability about n²/2^97 for n keys held (the
 * dedup window's figure, window-dedup.ts): the one that is not seen would read as seen, and its
 * chain would not be reported. Keys with upstreams waiting or reported broken are the decider's
 * own `Slot` objects in a Map, as in the function.
 */
export class RetainedSlots implements SlotTable {
  /** Keys with a `Slot`: upstreams waiting there, or reported broken with no successor yet. */
  private readonly open = new Map<string, Slot>();
  /** Open keys' last settling change (an upstream reported broken there), by watermark. */
  private readonly openChanges = new Map<string, number>();
  /** Every settling change of an open key, in order; a key's latest is the one `openChanges` holds. */
  private queueKeys: string[] = [];
  private queueTimes: number[] = [];
  private queueHead = 0;

  /** Seen rows [head, tail) by absolute number, row r at r & (capacity − 1): 3 digest words and the time seen. */
  private capacity: number;
  private digests: Uint32Array;
  private times: Float64Array;
  private head = 0;
  private tail = 0;
  /** Digest → row: each entry 1 + the row's position, 0 when empty; linear probing. */
  private table: Int32Array;
  private seenCount = 0;
  private readonly scratch = new Uint32Array(4);

  /**
   * `watermark`: the state's watermark, the time a key is seen at (called as the decider applies
   * `successor_arrived`); `rows`: the seen rows room is first made for, a power of two (small in
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
    this.table = new Int32Array(rows * 2);
  }

  /** Keys held, seen or open. */
  get size(): number {
    return this.open.size + this.seenCount;
  }

  /** Keys held that will be forgotten once their retention has passed (the others have upstreams waiting). */
  get held(): number {
    return this.openChanges.size + this.seenCount;
  }

  get(key: string): SlotState | undefined {
    return this.open.get(key) ?? (this.find(key) >= 0 ? SEEN : undefined);
  }

  set(key: string, value: SlotState): this {
    if (value === SEEN) {
      this.open.delete(key);
      this.openChanges.delete(key);
      if (this.find(key) < 0) this.addSeen();
    } else {
      const at = this.find(key);
      if (at >= 0) this.removeEntry(at);
      this.open.set(key, value);
    }
    return this;
  }

  delete(key: string): boolean {
    this.openChanges.delete(key);
    if (this.open.delete(key)) return true;
    const at = this.find(key);
    if (at < 0) return false;
    this.removeEntry(at);
    return true;
  }

  /** Notes a settling change of an open key (call after the decider applied `d`); seen keys were noted as they were set. */
  note(state: GapState, d: GapDecision): void {
    if (d.kind !== 'chain_reported' || !this.open.has(d.key)) return;
    this.openChanges.set(d.key, state.watermarkMs);
    this.queueKeys.push(d.key);
    this.queueTimes.push(state.watermarkMs);
  }

  /** Forgets the settled keys whose last change is more than the retention behind the state's watermark. */
  forget(state: GapState): void {
    const before = state.watermarkMs - this.retentionMs;
    const mask = this.capacity - 1;
    while (this.head < this.tail && this.times[this.head & mask]! < before) {
      const at = this.locate(1 + (this.head & mask));
      if (at >= 0) this.removeEntry(at); // else set open again, or deleted, since it was seen
      this.head++;
    }
    const { queueKeys, queueTimes } = this;
    while (this.queueHead < queueKeys.length && queueTimes[this.queueHead]! < before) {
      const key = queueKeys[this.queueHead]!;
      const changedMs = queueTimes[this.queueHead]!;
      this.queueHead++;
      if (this.openChanges.get(key) !== changedMs) continue; // changed again since, or seen, or forgotten
      if (this.open.get(key)!.waiting.length > 0) {
        // An upstream opened there after it settled: kept until that one settles too.
        this.openChanges.set(key, state.watermarkMs);
        queueKeys.push(key);
        queueTimes.push(state.watermarkMs);
        continue;
      }
      this.open.delete(key);
      this.openChanges.delete(key);
    }
    if (this.queueHead > 4096 && this.queueHead * 2 > queueKeys.length) {
      this.queueKeys = queueKeys.slice(this.queueHead);
      this.queueTimes = queueTimes.slice(this.queueHead);
      this.queueHead = 0;
    }
  }

  /** The table entry of `key`'s digest (left in `scratch`), or -1. */
  private find(key: string): number {
    const d = this.scratch;
    digest128(key, d, 0);
    const tableMask = this.table.length - 1;
    for (let at = d[0]! & tableMask; ; at = (at + 1) & tableMask) {
      const value = this.table[at]!;
      if (value === 0) return -1;
      const o = (value - 1) * WORDS;
      if (this.digests[o] === d[0] && this.digests[o + 1] === d[1] && this.digests[o + 2] === d[2]) return at;
    }
  }

  /** Files the digest in `scratch` (of a key `find` did not find) as the newest seen row. */
  private addSeen(): void {
    if (this.tail - this.head === this.capacity) this.grow();
    if ((this.seenCount + 1) * 2 > this.table.length) this.rehash(this.table.length * 2);
    const row = this.tail & (this.capacity - 1);
    this.tail++;
    const o = row * WORDS;
    this.digests[o] = this.scratch[0]!;
    this.digests[o + 1] = this.scratch[1]!;
    this.digests[o + 2] = this.scratch[2]!;
    this.times[row] = this.watermark();
    this.insert(1 + row);
    this.seenCount++;
  }

  private insert(value: number): void {
    const tableMask = this.table.length - 1;
    let at = this.digests[(value - 1) * WORDS]! & tableMask;
    while (this.table[at] !== 0) at = (at + 1) & tableMask;
    this.table[at] = value;
  }

  /** The table entry holding exactly `value`, or -1. */
  private locate(value: number): number {
    const tableMask = this.table.length - 1;
    for (let at = this.digests[(value - 1) * WORDS]! & tableMask; ; at = (at + 1) & tableMask) {
      const v = this.table[at]!;
      if (v === value) return at;
      if (v === 0) return -1;
    }
  }

  /** Linear-probing deletion by backward shift: no tombstones, probes stay short. */
  private removeEntry(at: number): void {
    const table = this.table;
    const tableMask = table.length - 1;
    let hole = at;
    for (let i = (at + 1) & tableMask; table[i] !== 0; i = (i + 1) & tableMask) {
      const home = this.digests[(table[i]! - 1) * WORDS]! & tableMask;
      // Move the entry into the hole unless its home lies cyclically in (hole, i].
      const inRange = hole <= i ? home > hole && home <= i : home > hole || home <= i;
      if (!inRange) {
        table[hole] = table[i]!;
        hole = i;
      }
    }
    table[hole] = 0;
    this.seenCount--;
  }

  /** Twice the rows: live ones move to their positions in the larger ring (dead ones stay, out of the table, until they expire). */
  private grow(): void {
    const oldMask = this.capacity - 1;
    const live = new Uint8Array(this.capacity);
    for (let r = this.head; r < this.tail; r++) live[r & oldMask] = this.locate(1 + (r & oldMask)) >= 0 ? 1 : 0;
    const digests = new Uint32Array(this.capacity * 2 * WORDS);
    const times = new Float64Array(this.capacity * 2);
    const mask = this.capacity * 2 - 1;
    for (let r = this.head; r < this.tail; r++) {
      const from = r & oldMask;
      const to = r & mask;
      digests.set(this.digests.subarray(from * WORDS, from * WORDS + WORDS), to * WORDS);
      times[to] = this.times[from]!;
    }
    this.capacity *= 2;
    this.digests = digests;
    this.times = times;
    this.table = new Int32Array(Math.max(this.table.length, this.capacity * 2));
    for (let r = this.head; r < this.tail; r++) if (live[r & oldMask] === 1) this.insert(1 + (r & mask));
  }

  private rehash(size: number): void {
    const old = this.table;
    this.table = new Int32Array(size);
    for (let i = 0; i < old.length; i++) if (old[i] !== 0) this.insert(old[i]!);
  }
}

/** Digest words a seen row keeps: 96 bits. */
const WORDS = 3;
