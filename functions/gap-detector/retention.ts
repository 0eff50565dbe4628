import type { GapDecision } from './decider';
import type { GapState } from './gap-state';
import { SEEN } from './slots';

/**
 * The chain records' retention for a state held in memory (replay): the counterpart of the
 * Firestore TTL the function sets on them (records.ts `slotExpiry`). A key whose successor came,
 * or whose upstreams were all reported broken, is forgotten once the watermark has passed the
 * last such settling change by more than `retentionMs`; a key with an upstream still waiting is
 * never forgotten (it settles again by its deadline). Keys are kept in order of their last
 * settling change, so a watermark step looks only at the oldest; opening a chain is not noted
 * (the cheaper path: most keys are noted once).
 *
 * A forgotten key answers as a key never seen: a successor arriving after that no longer closes
 * a reported upstream late, and an upstream arriving after that waits for a successor that
 * already came. Findings are therefore those of a state that forgets nothing on every log whose
 * chain partners arrive within the retention of each other (by watermark), as in GCP, where the
 * same records expire after the same retention.
 */
export class SlotRetention {
  /** Key → the watermark at its last settling change. */
  private readonly changed = new Map<string, number>();
  /**
   * Every settling change, in order (key and watermark): a key's latest is the one `changed`
   * holds, its earlier ones are passed over. A queue, not the map's own order: a map walked from
   * its start passes every entry deleted since it last compacted, and a month's replay forgets
   * millions of keys, one watermark step at a time.
   */
  private keys: string[] = [];
  private stamps: number[] = [];
  /** The first change not yet looked at. */
  private head = 0;

  constructor(private readonly retentionMs: number) {}

  /** How many keys are held. */
  get size(): number {
    return this.changed.size;
  }

  /** Notes the key a decision just applied to `state` settled (call after `evolve`). */
  note(state: GapState, d: GapDecision): void {
    if (d.kind === 'chain_reported' || d.kind === 'successor_arrived') this.stamp(d.key, state.watermarkMs);
  }

  /** Forgets the settled keys whose last change is more than the retention behind the state's watermark. */
  forget(state: GapState): void {
    const before = state.watermarkMs - this.retentionMs;
    const { keys, stamps } = this;
    while (this.head < keys.length && stamps[this.head]! < before) {
      const key = keys[this.head]!;
      const stampMs = stamps[this.head]!;
      this.head++;
      if (this.changed.get(key) !== stampMs) continue; // changed again since: its later change stands
      const slot = state.slots.get(key);
      if (slot !== undefined && slot !== SEEN && slot.waiting.length > 0) {
        // An upstream opened there after it settled: kept until that one settles too.
        this.stamp(key, state.watermarkMs);
        continue;
      }
      state.slots.delete(key);
      this.changed.delete(key);
    }
    if (this.head > 4096 && this.head * 2 > keys.length) {
      this.keys = keys.slice(this.head);
      this.stamps = stamps.slice(this.head);
      this.head = 0;
    }
  }

  private stamp(key: string, ms: number): void {
    this.changed.set(key, ms);
    this.keys.push(key);
    this.stamps.push(ms);
  }
}
