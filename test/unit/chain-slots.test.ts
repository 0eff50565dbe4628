import { RetainedSlots } from '../../cli/replay/chain-slots';
import { initialGapState, type GapDecision, type GapState } from '../../functions/gap-detector/core';
import { newUpstream, SEEN, type Slot, type SlotState } from '../../functions/gap-detector/slots';

/**
 * The retention as its doc states it, written plainly: a Map of slots and one of each key's last
 * settling change, looked at whole on every forget.
 */
class Reference {
  readonly slots = new Map<string, SlotState>();
  private readonly changed = new Map<string, number>();
  constructor(private readonly retentionMs: number) {}
  delete(key: string): boolean {
    this.changed.delete(key);
    return this.slots.delete(key);
  }
  settle(key: string, ms: number) {
    this.changed.set(key, ms);
  }
  forget(watermarkMs: number) {
    for (const [key, ms] of [...this.changed]) {
      if (ms >= watermarkMs - this.retentionMs) continue;
      const slot = this.slots.get(key);
      if (slot !== undefined && slot !== SEEN && slot.waiting.length > 0) {
        this.changed.set(key, watermarkMs);
        continue;
      }
      this.slots.delete(key);
      this.changed.delete(key);
    }
  }
}

const slotWith = (waiting: number): Slot => ({
  waiting: Array.from({ length: waiting }, (_, i) => newUpstream('k', `u-${i}`, 'card.scanned', '//s', 0, 0, i, undefined, undefined)),
  reported: ['r'],
});

describe('replay chain slots (seen keys as digests, with the retention)', () => {
  it('answers as a Map with the retention would, over many keys, growth and wrap-around', () => {
    const RETENTION = 1000;
    let watermark = 0;
    const table = new RetainedSlots(RETENTION, () => watermark, 64);
    const state = initialGapState(0, table) as GapState;
    const ref = new Reference(RETENTION);
    let seed = 42;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const keys = Array.from({ length: 1000 }, (_, i) => `lead.created|card-${i}`);
    let seen = 0;
    for (let step = 0; step < 30_000; step++) {
      const key = keys[Math.floor(rnd() * keys.length)]!;
      const r = rnd();
      if (r < 0.45) {
        // successor_arrived: the decider sets SEEN (the key is settled at the watermark)
        if (ref.slots.get(key) !== SEEN) {
          table.set(key, SEEN);
          ref.slots.set(key, SEEN);
          ref.settle(key, watermark);
          seen++;
        }
      } else if (r < 0.7) {
        // chain_opened on a key not seen: a Slot (waiting or not)
        if (ref.slots.get(key) !== SEEN) {
          const slot = slotWith(rnd() < 0.5 ? 1 : 0);
          table.set(key, slot);
          ref.slots.set(key, slot);
        }
      } else if (r < 0.85) {
        // chain_reported on an open key
        const slot = ref.slots.get(key);
        if (slot !== undefined && slot !== SEEN) {
          state.watermarkMs = watermark;
          const d = { kind: 'chain_reported', key } as GapDecision;
          table.note(state, d);
          ref.settle(key, watermark);
        }
      } else if (r < 0.87) {
        expect(table.delete(key)).toBe(ref.delete(key));
      } else {
        // Time slows down in the second half: more keys within the retention, so the rows grow late too.
        watermark += Math.floor(rnd() * (step < 15_000 ? 40 : 8));
        state.watermarkMs = watermark;
        table.forget(state);
        ref.forget(watermark);
      }
      if (step % 997 === 0) {
        for (const k of keys) expect(table.get(k)).toBe(ref.slots.get(k));
        expect(table.size).toBe(ref.slots.size);
      }
    }
    for (const k of keys) expect(table.get(k)).toBe(ref.slots.get(k));
    // The run went through many seen keys, forgot most, and held some at the end.
    expect(seen).toBeGreaterThan(5_000);
    expect(table.size).toBeGreaterThan(0);
    expect(table.size).toBeLessThan(keys.length);
  });
});
