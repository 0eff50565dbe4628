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
  /** Key → the watermark at its last settling change; insertion order is the order of those changes. */
  private readonly changed = new Map<string, number>();
  /** The oldest stamp held (+∞ when none). */
  private oldest = Number.POSITIVE_INFINITY;

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
    if (!(before > this.oldest)) return;
    this.oldest = Number.POSITIVE_INFINITY;
    for (const [key, stampMs] of this.changed) {
      if (stampMs >= before) {
        this.oldest = stampMs;
        return;
      }
      const slot = state.slots.get(key);
      if (slot !== undefined && slot !== SEEN && slot.waiting.length > 0) {
        // An upstream opened there after it settled: kept until that one settles too.
        this.stamp(key, state.watermarkMs);
        continue;
      }
      state.slots.delete(key);
      this.changed.delete(key);
    }
  }

  private stamp(key: string, ms: number): void {
    this.changed.delete(key);
    this.changed.set(key, ms);
    if (ms < this.oldest) this.oldest = ms;
  }
}
