import type { GapDecision } from './decider';
import type { GapState } from './gap-state';
import { SEEN } from './slots';

/**
 * The chain records' retention for a state held in memory (replay): the counterpart of the
 * Firestore TTL the function sets on them (records.ts `slotExpiry`). A key whose successor came,
 * or whose upstreams were all reported broken, is forgotten once the watermark has passed its
 * last change by more than `retentionMs`; a key with an upstream still waiting is never
 * forgotten (it changes again by its deadline). Keys are kept in order of their last change, so
 * a watermark step looks only at the oldest.
 *
 * A forgotten key answers as a key never seen: a successor arriving after that no longer closes
 * a reported upstream late, and an upstream arriving after that waits for a successor that
 * already came. Findings are therefore those of a state that forgets nothing on every log whose
 * chain partners arrive within the retention of each other (by watermark), as in GCP, where the
 * same records expire after the same retention.
 */
export class SlotRetention {
  /** Key → the watermark at its last change; insertion order is the order of last change. */
  private readonly changed = new Map<string, number>();
  /** The oldest stamp held (+∞ when none). */
  private oldest = Number.POSITIVE_INFINITY;

  constructor(private readonly retentionMs: number) {}

  /** How many keys are held. */
  get size(): number {
    return this.changed.size;
  }

  /** Notes the key a decision just applied to `state` changed (call after `evolve`). */
  note(state: GapState, d: GapDecision): void {
    if (d.kind !== 'chain_opened' && d.kind !== 'chain_reported' && d.kind !== 'successor_arrived') return;
    this.stamp(d.key, state.watermarkMs);
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
        // Not settled yet (cannot happen once its deadline passed): kept, as if changed now.
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
