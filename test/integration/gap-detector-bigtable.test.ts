import type { Firestore } from '@google-cloud/firestore';
import { FirestoreGapStore } from '../../functions/gap-detector/firestore-store';
import { DEFAULT_GAP_STATE_CONFIG, type GapStateContext, type LoggedMarker, type MarkerLog, type OutboxMessage, type SequenceMarker } from '../../functions/gap-detector/store';
import { emulatorClients, runPrefix } from '../support/harness';
import { markerLog } from '../support/gap-markers';

const T0 = Date.parse('2026-03-01T10:00:00Z');
const MIN = 60_000;
const ctx: GapStateContext = { now: T0, config: DEFAULT_GAP_STATE_CONFIG };
const marker = (source: string, n: number | string, watermarkMs = T0 + Number(n)): SequenceMarker => ({
  source,
  seq: String(n),
  eventId: `e${n}`,
  type: 'lead.tagged',
  timeMs: T0 + Math.min(Number(n), MIN),
  watermarkMs,
});
const force = { force: true, minIntervalMs: 0 };
const ids = (messages: readonly OutboxMessage[]) => messages.map((m) => m.id).sort();

/** A marker log that fails its next removal once asked to: as an instance that dies after the fold's summary commit, before the markers' removal. */
class CrashingRemoval implements MarkerLog {
  crashNext = false;
  constructor(private readonly log: MarkerLog) {}
  get counts() {
    return this.log.counts;
  }
  record(m: SequenceMarker, c: GapStateContext) {
    return this.log.record(m, c);
  }
  pending(source: string, limit: number) {
    return this.log.pending(source, limit);
  }
  oldestPendingSource() {
    return this.log.oldestPendingSource();
  }
  async remove(markers: readonly LoggedMarker[]) {
    if (this.crashNext) {
      this.crashNext = false;
      throw new Error('the instance died before removing the markers');
    }
    return this.log.remove(markers);
  }
}

describe('gap-detector sequence markers in the Bigtable emulator', () => {
  let firestore: Firestore;
  const closers: Array<() => Promise<void>> = [];
  const bigtable = async (prefix: string) => {
    const made = await markerLog('bigtable', prefix);
    closers.push(made.close);
    return { log: made.log!, rows: made.rows };
  };

  beforeAll(() => {
    ({ firestore } = emulatorClients());
  });
  afterAll(async () => {
    for (const close of closers) await close();
    await firestore.terminate();
  });

  it('records a number once (a second record is a repeat until removed), lists a source in arrival order whatever the row keys, and names the oldest source', async () => {
    const { log, rows } = await bigtable(runPrefix('btlog'));
    // Arrival order differs from the numbers' (and so from the row keys' digests).
    const order = [7, 3, 11, 1, 5, 9, 2];
    for (const n of order) expect(await log.record(marker('//a', n), ctx)).toBe('recorded');
    expect(await log.record(marker('//a', 3), ctx)).toBe('repeat');
    expect(await log.record(marker('//b', 3), ctx)).toBe('recorded');
    expect(await log.oldestPendingSource()).toBe('//a');
    const { markers, more } = await log.pending('//a', 100);
    expect(more).toBe(false);
    // Server timestamps: ties at the millisecond granularity fall back to the watermark each delivery saw (here rising with the number).
    const seen = markers.map((m) => Number(m.seq));
    const byArrival = [...markers].sort((a, b) => a.order - b.order || a.watermarkMs - b.watermarkMs);
    expect(seen).toEqual(byArrival.map((m) => Number(m.seq)));
    expect(new Set(seen)).toEqual(new Set(order));
    expect(markers.every((m) => m.order >= T0 && m.order <= Date.now() + 60_000)).toBe(true);
    const firstTwo = await log.pending('//a', 2);
    expect({ n: firstTwo.markers.length, more: firstTwo.more }).toEqual({ n: 2, more: true });

    await log.remove(markers);
    await log.remove(markers); // removing again is no error
    expect(await rows()).toBe(1);
    expect(await log.oldestPendingSource()).toBe('//b');
    // Removed: the number records again (the fold then finds it a repeat).
    expect(await log.record(marker('//a', 3), ctx)).toBe('recorded');
  });

  it("names the sources by their earliest marker from one scan for a tick's worth of calls, skipping those folded meanwhile", async () => {
    const { log } = await bigtable(runPrefix('btoldest'));
    for (const [source, n] of [['//c', 1], ['//a', 1], ['//c', 2], ['//b', 1], ['//a', 2], ['//d', 1]] as const) {
      await log.record(marker(source, n), ctx);
      const at = Date.now();
      while (Date.now() === at) await new Promise((r) => setImmediate(r));
    }
    const before = log.counts.reads;
    expect(await log.oldestPendingSource()).toBe('//c');
    // //a folded by a delivery meanwhile: skipped.
    await log.remove((await log.pending('//a', 10)).markers);
    const afterPending = log.counts.reads;
    expect(await log.oldestPendingSource()).toBe('//b');
    expect(await log.oldestPendingSource()).toBe('//d');
    // One scan of the six rows, then one row read per source asked for (and one for //a, gone).
    expect(afterPending - 2 - before).toBe(6 + 1);
    expect(log.counts.reads - afterPending).toBe(1 + 2);
    // The queue used up: the table is scanned again, and its earliest source comes round again.
    expect(await log.oldestPendingSource()).toBe('//c');
    for (const s of ['//b', '//c', '//d']) await log.remove((await log.pending(s, 10)).markers);
    expect(await log.oldestPendingSource()).toBeUndefined();
  });

  it('keeps the arrival order of deliveries a millisecond apart or more, whatever their numbers', async () => {
    const { log } = await bigtable(runPrefix('btorder'));
    const arrivals = [40, 10, 30, 20, 50];
    for (const n of arrivals) {
      // The watermark falls as they arrive: only the server timestamps can put them in this order.
      await log.record(marker('//o', n, T0 - n), ctx);
      const at = Date.now();
      while (Date.now() === at) await new Promise((r) => setImmediate(r));
    }
    expect((await log.pending('//o', 10)).markers.map((m) => Number(m.seq))).toEqual(arrivals);
  });

  it.each([
    ['a gap', [1, 2, 4, 5]],
    ['a jump, then the numbers continuing from it (a reset)', [1, 3, 5_000_000, 5_000_001]],
    ['two jumps apart', [1, 2, 5_000_000, 9_000_000]],
  ])('a fold that dies after its summary commit and before removing its markers (%s): the next fold reports nothing again, the state is as without the crash', async (_, numbers) => {
    const prefix = runPrefix('btcrash');
    const plain = new FirestoreGapStore(firestore, `${prefix}plain`, (await bigtable(`${prefix}plain-`)).log);
    const crashing = new CrashingRemoval((await bigtable(`${prefix}crash-`)).log);
    const crashed = new FirestoreGapStore(firestore, `${prefix}crash`, crashing);
    for (const store of [plain, crashed]) for (const n of numbers) await store.recordSequence(marker('//s', n), ctx);

    const later = { ...ctx, now: T0 + 1000 };
    const first = await plain.foldSource('//s', T0 + 10 * MIN, later, force);
    crashing.crashNext = true;
    await expect(crashed.foldSource('//s', T0 + 10 * MIN, later, force)).rejects.toThrow('died before removing');
    // What the crashed fold wrote to its outbox (published later by the tick: handler.ts) is what the plain one returned.
    expect(ids(await crashed.pendingOutbox(T0 + 1000, 100))).toEqual(ids(first));
    expect(first.length).toBeGreaterThan(0);

    // The next fold finds the markers again: it applies none of them twice, reports nothing, and removes them.
    const again = { ...ctx, now: T0 + 2000 };
    expect(await crashed.foldSource('//s', T0 + 10 * MIN, again, force)).toEqual([]);
    expect(await crashed.foldSource('//s', T0 + 10 * MIN, again, force)).toEqual([]);
    expect((await crashing.pending('//s', 100)).markers).toEqual([]);

    // Then both carry on alike: the same summary (but for when it was folded), the same findings for what comes next.
    for (const store of [plain, crashed]) await store.recordSequence(marker('//s', numbers.at(-1)! + 3), ctx);
    const next = { ...ctx, now: T0 + 3000 };
    const [a, b] = [await plain.foldSource('//s', T0 + 60 * MIN, next, force), await crashed.foldSource('//s', T0 + 60 * MIN, next, force)];
    expect(ids(b)).toEqual(ids(a));
    // A range's `order` is its revealing marker's arrival, a server timestamp of each table: the rest must match.
    const summary = async (p: string) => {
      const docs = (await firestore.collection(`${p}-sources`).get()).docs.map((d) => d.data());
      return docs.map(({ foldedAtMs: _, expireAt: __, gaps, ...rest }) => ({ ...rest, gaps: (gaps as Array<{ order: number }>).map(({ order: ___, ...g }) => g) }));
    };
    expect(await summary(`${prefix}crash`)).toEqual(await summary(`${prefix}plain`));
  });

  it("a fold that read ahead does not apply what it read after another fold's commits: it reads again", async () => {
    const prefix = runPrefix('btahead');
    const { log } = await bigtable(prefix);
    // Instance A's removals wait on a gate: it stops between its first commit and its next round.
    let entered!: () => void;
    let release!: () => void;
    const atGate = new Promise<void>((r) => (entered = r));
    const gate = new Promise<void>((r) => (release = r));
    const gated: MarkerLog = Object.assign(Object.create(log) as MarkerLog, {
      remove: async (markers: readonly LoggedMarker[]) => {
        entered();
        await gate;
        return log.remove(markers);
      },
    });
    const a = new FirestoreGapStore(firestore, `${prefix}state`, gated);
    const b = new FirestoreGapStore(firestore, `${prefix}state`, log);
    // Three commits' worth, in arrival order: 1-300; 301-599 and a jump to 5,000,000; 5,000,001-5,000,300, which continue from it (a reset).
    const numbers = [...Array.from({ length: 599 }, (_, i) => i + 1), 5_000_000, ...Array.from({ length: 300 }, (_, i) => 5_000_001 + i)];
    for (const n of numbers) {
      await log.record(marker('//g', n, T0), ctx);
    }
    const foldA = a.foldSource('//g', T0, ctx, force);
    await atGate;
    // B folds the rest meanwhile: it skips A's first batch (the summary names it) and applies the other two.
    const fromB = await b.foldSource('//g', T0, { ...ctx, now: T0 + 1 }, force);
    release();
    const fromA = await foldA;
    const kinds = [...fromA, ...fromB].map((m) => JSON.parse(m.data) as { kind: string; event_id?: string });
    expect(kinds.map((f) => `${f.kind} ${f.event_id ?? ''}`)).toEqual(['sequence_jump e5000000']);
    const summary = (await firestore.collection(`${prefix}state-sources`).get()).docs.map((d) => d.data());
    expect(summary).toEqual([expect.objectContaining({ low: '5000000', high: '5000300', gaps: [] })]);
    expect((await log.pending('//g', 10)).markers).toEqual([]);
  });

  it('concurrent folds of one source: each marker applied once, every gap reported once, nothing left behind', async () => {
    const prefix = runPrefix('btconc');
    const { log, rows } = await bigtable(prefix);
    const store = new FirestoreGapStore(firestore, `${prefix}state`, log);
    const missing = new Set([5, 6, 40, 77, 150, 151, 152, 299]);
    const numbers = Array.from({ length: 300 }, (_, i) => i + 1).filter((n) => !missing.has(n));
    const published: OutboxMessage[] = [];
    const fold = async (i: number) => {
      const c = { ...ctx, now: T0 + i };
      // Folds race on the summary: those that lose stand down (unforced) or fold again (forced).
      published.push(...(await store.foldSource('//busy', T0, c, { force: i % 2 === 0, minIntervalMs: 0 })));
    };
    // Deliveries record their numbers while folds of the source run, eight at a time.
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async (_, worker) => {
        for (let i = next++; i < numbers.length; i = next++) {
          await store.recordSequence(marker('//busy', numbers[i]!), ctx);
          if (i % 10 === worker) await fold(i);
        }
      }),
    );
    await Promise.all(Array.from({ length: 6 }, (_, i) => fold(1000 + i)));
    expect(await rows()).toBe(0);
    // Every number's grace period over: each missing range reported exactly once.
    published.push(...(await store.foldSource('//busy', T0 + 60 * MIN, { ...ctx, now: T0 + 5000 }, force)));
    const gaps = published.map((m) => JSON.parse(m.data) as { kind: string; from_sequence: number; to_sequence: number });
    expect(gaps.map((g) => `${g.kind} ${g.from_sequence}-${g.to_sequence}`).sort()).toEqual(['gap 150-152', 'gap 299-299', 'gap 40-40', 'gap 5-6', 'gap 77-77']);
    const summary = (await firestore.collection(`${prefix}state-sources`).get()).docs.map((d) => d.data());
    expect(summary).toEqual([expect.objectContaining({ low: '1', high: '300', nextDueMs: null })]);
    expect(store.counts.bigtable.writes).toBe(numbers.length);
    expect(store.counts.bigtable.deletes).toBeGreaterThanOrEqual(numbers.length);
  });
});
