/**
 * An open-addressing hash table of positive Int32 values with linear probing: the index of
 * replay's digest rows (window-dedup.ts, chain-slots.ts). A value names a row its owner keeps; it
 * is filed at its home, a word of the digest that row holds (`homeWord`). Deletion shifts the
 * entries after it back, so there are no tombstones and probes stay short. Owners look keys up
 * themselves, probing `slots` from a digest's home and comparing what their rows hold.
 */
export class ProbeTable {
  /** Each slot holds a value, 0 when empty; the length is a power of two. */
  slots: Int32Array;
  /** Values held. */
  size = 0;

  /**
   * `refile`: when given, a doubling files the owner's values again from the owner's own rows,
   * read in memory order, with their homes (`put(value, home)`), instead of reading each value's
   * home from its row in table order: one random read per value fewer (window-dedup.ts).
   */
  constructor(
    slots: number,
    private readonly homeWord: (value: number) => number,
    private readonly refile?: (put: (value: number, home: number) => void) => void,
  ) {
    this.slots = new Int32Array(slots);
  }

  get mask(): number {
    return this.slots.length - 1;
  }

  /** Files a value not held yet, doubling the table first when it would be more than half full. */
  insert(value: number): void {
    if ((this.size + 1) * 2 > this.slots.length) this.rehash(this.slots.length * 2);
    this.put(value, this.homeWord(value));
    this.size++;
  }

  /** Makes room for `n` more values now (an owner with `refile` calls it before its rows change). */
  reserve(n: number): void {
    if ((this.size + n) * 2 > this.slots.length) this.rehash(this.slots.length * 2);
  }

  /** `insert` of a value whose home the caller has in hand (it is `homeWord(value)`). */
  insertHomed(value: number, home: number): void {
    if ((this.size + 1) * 2 > this.slots.length) this.rehash(this.slots.length * 2);
    this.put(value, home);
    this.size++;
  }

  /** The slot holding exactly `value`, or -1. */
  locate(value: number): number {
    const { slots, mask } = this;
    for (let at = this.homeWord(value) & mask; ; at = (at + 1) & mask) {
      const v = slots[at]!;
      if (v === value) return at;
      if (v === 0) return -1;
    }
  }

  /** Empties slot `at` by backward shift. */
  remove(at: number): void {
    const { slots, mask } = this;
    let hole = at;
    for (let i = (at + 1) & mask; slots[i] !== 0; i = (i + 1) & mask) {
      const home = this.homeWord(slots[i]!) & mask;
      // Move the entry into the hole unless its home lies cyclically in (hole, i].
      const inRange = hole <= i ? home > hole && home <= i : home > hole || home <= i;
      if (!inRange) {
        slots[hole] = slots[i]!;
        hole = i;
      }
    }
    slots[hole] = 0;
    this.size--;
  }

  /** Empties the table to `slots` slots, for an owner about to file its values again (their homes moved). */
  reset(slots: number): void {
    this.slots = new Int32Array(slots);
    this.size = 0;
  }

  private rehash(size: number): void {
    const old = this.slots;
    this.slots = new Int32Array(size);
    if (this.refile !== undefined) {
      this.refile(this.put);
      return;
    }
    for (let i = 0; i < old.length; i++) if (old[i] !== 0) this.put(old[i]!, this.homeWord(old[i]!));
  }

  private readonly put = (value: number, home: number): void => {
    const { slots, mask } = this;
    let at = home & mask;
    while (slots[at] !== 0) at = (at + 1) & mask;
    slots[at] = value;
  };
}
