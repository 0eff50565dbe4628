import { RetainedSlots } from '../../cli/replay/chain-slots';
import { initialGapState, type GapDecision, type GapState, type SlotTable } from '../../functions/gap-detector/core';
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

const upstream = (id: string) => newUpstream('k', id, 'card.scanned', '//s', 0, 0, 0, undefined, undefined);

/** The decider's ways with a slot table (decider.ts `evolve`), on the table under test and on the reference alike. */
function apply(table: SlotTable, op: 'arrived' | 'opened' | 'reported', key: string, n: number): boolean {
  const existing = table.get(key);
  switch (op) {
    case 'arrived':
      if (existing === SEEN) return false;
      if (existing !== undefined) existing.waiting.length = 0;
      table.set(key, SEEN);
      return true;
    case 'opened': {
      if (existing === SEEN) return false; // the decider opens no chain under a seen key
      const slot: Slot = existing ?? { waiting: [], reported: [] };
      if (existing !== slot) table.set(key, slot);
      slot.waiting.push(upstream(`u-${n}`));
      return true;
    }
    case 'reported': {
      if (existing === undefined || existing === SEEN || existing.waiting.length === 0) return false;
      const [u] = existing.waiting.splice(0, 1);
      existing.reported = [...existing.reported, u!.eventId];
      return true;
    }
  }
}

/** What a slot holds, to compare two tables' answers (the Slot objects are each table's own). */
const view = (s: SlotState | undefined) => (s === undefined || s === SEEN ? s : { waiting: s.waiting.map((u) => u.eventId), reported: s.reported });

describe('replay chain slots (settled keys as digests, with the retention)', () => {
  it('answers as a Map with the retention would, over many keys, growth and wrap-around', () => {
    const RETENTION = 1000;
    let watermark = 0;
    const table = new RetainedSlots(RETENTION, () => watermark, 64);
    const state = initialGapState(0, table) as GapState;
    const ref = new Reference(RETENTION);
    let seed = 42;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const keys = Array.from({ length: 1000 }, (_, i) => `lead.created|card-${i}`);
    const counts = { arrived: 0, opened: 0, reported: 0, readBack: 0 };
    for (let step = 0; step < 30_000; step++) {
      const key = keys[Math.floor(rnd() * keys.length)]!;
      const r = rnd();
      if (r < 0.87) {
        const op = r < 0.3 ? 'arrived' : r < 0.6 ? 'opened' : 'reported';
        const before = ref.slots.get(key);
        if (before !== undefined && before !== SEEN && before.waiting.length === 0 && op !== 'reported') counts.readBack++;
        const done = apply(table, op, key, step);
        expect(apply(ref.slots, op, key, step)).toBe(done);
        if (done) counts[op]++;
        if (done && op !== 'opened') {
          // The stage notes each decision after the decider applied it; a seen key settles as it is set.
          state.watermarkMs = watermark;
          table.note(state, { kind: op === 'reported' ? 'chain_reported' : 'successor_arrived', key } as GapDecision);
          ref.settle(key, watermark);
        }
      } else if (r < 0.88) {
        expect(table.delete(key)).toBe(ref.delete(key));
      } else {
        // Time slows down in the second half: more keys within the retention, so the rows grow late too.
        watermark += Math.floor(rnd() * (step < 15_000 ? 40 : 8));
        state.watermarkMs = watermark;
        table.forget(state);
        ref.forget(watermark);
      }
      if (step % 4999 === 0) {
        for (const k of keys) expect(view(table.get(k))).toEqual(view(ref.slots.get(k)));
        expect(table.size).toBe(ref.slots.size);
      }
    }
    for (const k of keys) expect(view(table.get(k))).toEqual(view(ref.slots.get(k)));
    // Every way through was taken many times, and the run held some keys at the end, not all.
    for (const n of Object.values(counts)) expect(n).toBeGreaterThan(500);
    expect(table.size).toBeGreaterThan(0);
    expect(table.size).toBeLessThan(keys.length);
  });

  /** A table holding key `k` settled (its one upstream reported, nothing waiting), and a way to let its retention pass. */
  function settledKey() {
    let watermark = 10;
    const table = new RetainedSlots(1000, () => watermark);
    const state = initialGapState(0, table) as GapState;
    const slot: Slot = { waiting: [upstream('u1')], reported: [] };
    table.set('k', slot);
    slot.waiting.length = 0;
    slot.reported = ['u1'];
    state.watermarkMs = watermark;
    table.note(state, { kind: 'chain_reported', key: 'k' } as GapDecision);
    const passRetention = () => {
      watermark = 2000;
      state.watermarkMs = watermark;
      table.forget(state);
    };
    return { table, passRetention };
  }

  it('reads a settled key back as its Slot, and takes SEEN over a reported key that was not read back', () => {
    const { table, passRetention } = settledKey();
    table.set('k', SEEN); // not read back first
    expect(table.get('k')).toBe(SEEN);
    expect(table.size).toBe(1);
    passRetention();
    expect(table.get('k')).toBeUndefined();
    expect(table.size).toBe(0);
  });

  it('answers again after a forgetting pass: a key read back and then forgotten is held nowhere', () => {
    const { table, passRetention } = settledKey();
    // Read back (open again, nothing waiting), then asked again with nothing changed: the same Slot.
    const read = table.get('k');
    expect(view(read)).toEqual({ waiting: [], reported: ['u1'] });
    expect(table.get('k')).toBe(read);
    // The retention passes: the key is forgotten, and the answer in hand with it.
    passRetention();
    expect(table.get('k')).toBeUndefined();
    expect(table.size).toBe(0);
  });
});
