import type { Instance, Table } from '@google-cloud/bigtable';
import { bigtableInstance, ensureTables } from '../../shared/adapters/bigtable';
import type { BusinessEvent } from '../../shared/events/envelope';
import { BigtableChainLog, CHAIN_FAMILY } from '../../functions/gap-detector/bigtable-chains';
import { FirestoreEarlierChains, FirestoreGapStore } from '../../functions/gap-detector/firestore-store';
import { MemoryGapStore } from '../../functions/gap-detector/memory-store';
import { DEFAULT_GAP_STATE_CONFIG, type GapStateContext, type OutboxMessage } from '../../functions/gap-detector/store';
import { emulatorClients, runPrefix } from '../support/harness';

const T0 = Date.parse('2026-03-01T10:00:00Z');
const MIN = 60_000;
const HOUR = 60 * MIN;
const ctxAt = (now: number): GapStateContext => ({ now, config: DEFAULT_GAP_STATE_CONFIG });
const event = (id: string, type: string, data: Record<string, string>, minute: number) =>
  ({ specversion: '1.0', id, type, source: '//crm', time: new Date(T0 + minute * MIN).toISOString(), data }) as unknown as BusinessEvent;
const ids = (messages: readonly OutboxMessage[]) => messages.map((m) => m.id).sort();
const kinds = (messages: readonly OutboxMessage[]) => messages.map((m) => (JSON.parse(m.data) as { kind: string }).kind).sort();

/** A step of the log: an event at its own time, the watermark where it is; the wall clock (TTLs, when a message was written) is `now`. */
const step = (log: BigtableChainLog | MemoryGapStore | FirestoreGapStore, e: BusinessEvent, watermarkMs: number, now = Date.now()) => {
  const timeMs = Date.parse(e.time);
  return log instanceof BigtableChainLog ? log.apply(e, timeMs, watermarkMs, undefined, ctxAt(now)) : log.applyChain(e, timeMs, watermarkMs, undefined, ctxAt(now));
};

/** A step delivered again while it fails on contention, as Pub/Sub redelivers a message whose handler threw. */
async function delivered(log: BigtableChainLog, e: BusinessEvent, watermarkMs: number): Promise<OutboxMessage[]> {
  for (;;) {
    try {
      return await step(log, e, watermarkMs);
    } catch (err) {
      if ((err as { code?: string }).code !== 'STATE_CONTENDED') throw err;
    }
  }
}

/**
 * The table as one instance of the function sees it, whose conditional writes (CheckAndMutateRow,
 * the chain rows' commits) can be held at a gate or made to fail: as an instance that is slow, or
 * dies, between the rows it writes first and its commit.
 */
function interceptCommits(table: Table, before: (row: string) => Promise<void>): Table {
  return new Proxy(table, {
    get(target, property, receiver) {
      if (property !== 'row') return Reflect.get(target, property, receiver) as unknown;
      return (key: string) => {
        const row = target.row(key);
        const filter = row.filter.bind(row);
        return Object.assign(row, {
          filter: async (...args: Parameters<typeof filter>) => {
            await before(key);
            return filter(...args);
          },
        });
      };
    },
  });
}

/** Rows of the table under a key prefix (`c#` chains, `d#` due index, `o#` outbox). */
async function rows(table: Table, prefix: string): Promise<number> {
  const [found] = await table.getRows({ prefix });
  return found.length;
}

describe('gap-detector chains in the Bigtable emulator: a row per card and lead, the outbox and the due index beside them', () => {
  let instance: Instance;
  const table = async (suite: string) => {
    const name = `${runPrefix(suite)}chains`;
    await ensureTables(instance, [{ table: name, families: [CHAIN_FAMILY] }]);
    return instance.table(name);
  };

  beforeAll(() => {
    if (!process.env.BIGTABLE_EMULATOR_HOST) throw new Error('BIGTABLE_EMULATOR_HOST missing: run through jest (test/support/global-setup.ts starts the emulator)');
    instance = bigtableInstance('event-recovery-test');
  });
  afterAll(async () => {
    await instance.bigtable.close();
  });

  it('reports as the in-memory store does: a broken chain once from the sweep, a late successor once, a redelivery nothing', async () => {
    const t = await table('btchain');
    const log = new BigtableChainLog(t);
    const memory = new MemoryGapStore();
    const events = [event('s1', 'card.scanned', { card_id: 'k1' }, 0), event('l1', 'lead.created', { lead_id: 'L1', card_id: 'k1' }, 2), event('c1', 'crm.synced', { lead_id: 'L1' }, 3)];
    for (const e of events) {
      const watermark = Date.parse(e.time);
      expect(ids(await step(log, e, watermark))).toEqual(ids(await step(memory, e, watermark)));
    }
    // The follow-up is an hour late: the sweep reports the CRM sync's chain broken, once.
    const later = T0 + 70 * MIN;
    const swept = await log.sweep(later, ctxAt(Date.now()), 100);
    const expected = await memory.sweepChains(later, ctxAt(Date.now()), 100);
    expect(kinds(swept.messages)).toEqual(['chain_broken']);
    expect(ids(swept.messages)).toEqual(ids(expected.messages));
    expect((await log.sweep(later, ctxAt(Date.now()), 100)).messages).toEqual([]);
    const followup = event('f1', 'followup.sent', { lead_id: 'L1' }, 71);
    const late = await step(log, followup, later + MIN);
    expect(kinds(late)).toEqual(['late']);
    expect(ids(late)).toEqual(ids(await step(memory, followup, later + MIN)));
    // Redelivered: nothing new.
    expect(await step(log, followup, later + MIN)).toEqual([]);
    expect(await step(log, events[1]!, later + MIN)).toEqual([]);
    // One row per card and per lead; no due time left, so no index entry.
    expect(await rows(t, 'c#')).toBe(2);
    expect(await rows(t, 'd#')).toBe(0);
  });

  it('keeps the messages of a step that was not published (the instance died) for the tick, in any instance, until they are', async () => {
    const t = await table('btoutbox');
    const dying = new BigtableChainLog(t);
    await step(dying, event('s2', 'card.scanned', { card_id: 'k2' }, 0), T0);
    const now = Date.now();
    const { messages } = await dying.sweep(T0 + 20 * MIN, ctxAt(now), 100);
    expect(kinds(messages)).toEqual(['chain_broken']);
    // Not published, not deleted: the instance is gone. Another finds them once the grace is over.
    const other = new BigtableChainLog(t);
    expect(await other.pendingOutbox(now - 1, 100)).toEqual([]);
    const left = await other.pendingOutbox(now + MIN, 100);
    expect(left).toEqual(messages);
    expect(await other.deleteOutbox([...ids(left), 'a-fold-message'])).toEqual(['a-fold-message']);
    expect(await other.pendingOutbox(now + MIN, 100)).toEqual([]);
    expect(await rows(t, 'o#')).toBe(0);
    // The chain row keeps the report (a successor is late, not new) and no outbox marker.
    const [[row]] = await t.getRows({ prefix: 'c#' });
    expect(Object.keys(row!.data[CHAIN_FAMILY] as object)).toEqual(['d']);
  });

  it('publishes nothing of a commit that lost its race, once, and what the step committed when it read again', async () => {
    const t = await table('btrace');
    const setup = new BigtableChainLog(t);
    await step(setup, event('l3', 'lead.created', { lead_id: 'L3' }, 0), T0);
    // Reported broken: a CRM sync after this is late, a step that has a message.
    const at = T0 + 20 * MIN;
    const reported = await setup.sweep(at, ctxAt(Date.now()), 100);
    await setup.deleteOutbox(ids(reported.messages));
    let hold: (() => void) | undefined;
    const held = new Promise<void>((resolve) => (hold = resolve));
    let reached!: () => void;
    const atGate = new Promise<void>((resolve) => (reached = resolve));
    let first = true;
    const slow = new BigtableChainLog(
      interceptCommits(t, async () => {
        if (!first) return;
        first = false;
        reached();
        await held;
      }),
    );
    const crm = event('c3', 'crm.synced', { lead_id: 'L3' }, 21);
    const now = Date.now();
    const racing = step(slow, crm, at + MIN, now);
    await atGate;
    // Meanwhile another instance changes the lead's row: the slow commit's condition no longer holds.
    const fast = new BigtableChainLog(t);
    const fastOut = await step(fast, crm, at + MIN, now + 1);
    expect(kinds(fastOut)).toEqual(['late']);
    expect(await rows(t, 'o#')).toBe(2);
    hold!();
    // The slow instance reads again, finds the sync applied: nothing more to commit or report.
    expect(await racing).toEqual([]);
    // The tick: the one committed message once; the lost commit's outbox row is removed unpublished.
    const tick = new BigtableChainLog(t);
    const left = await tick.pendingOutbox(now + MIN, 100);
    expect(ids(left)).toEqual(ids(fastOut));
    expect(await rows(t, 'o#')).toBe(1);
    await tick.deleteOutbox(ids(left));
    expect(await rows(t, 'o#')).toBe(0);
  });

  it('leaves what a writer wrote before its commit alone while it may still commit, and removes it once it cannot', async () => {
    const t = await table('btdead');
    await step(new BigtableChainLog(t), event('l4', 'lead.created', { lead_id: 'L4' }, 0), T0);
    const at = T0 + 20 * MIN;
    // An instance opens a card's chain and dies before its commit: its due entry is written, its row is not.
    const dies = new BigtableChainLog(
      interceptCommits(t, async (row) => {
        if ((await t.row(row).exists())[0]) return;
        throw new Error('the instance died before its commit');
      }),
    );
    await expect(step(dies, event('s4', 'card.scanned', { card_id: 'k4' }, 1), T0 + MIN)).rejects.toThrow('died');
    expect(await rows(t, 'd#')).toBe(2);
    // A sweep reports the lead's chain, and keeps the dead writer's entry (it might be at work still)...
    const swept = await new BigtableChainLog(t).sweep(at, ctxAt(Date.now()), 100);
    expect(kinds(swept.messages)).toEqual(['chain_broken']);
    expect(await rows(t, 'd#')).toBe(1);
    // ...until no request could still be at work (an hour on the wall clock): then it goes, reporting nothing.
    expect((await new BigtableChainLog(t).sweep(at, ctxAt(Date.now() + 2 * HOUR), 100)).messages).toEqual([]);
    expect(await rows(t, 'd#')).toBe(0);
  });

  it('a lead.created with a card, its instance dead between the two rows: the redelivery commits the lead and reports nothing twice', async () => {
    const t = await table('btsplit');
    const first = new BigtableChainLog(t);
    await step(first, event('s5', 'card.scanned', { card_id: 'k5' }, 0), T0);
    const lead = event('l5', 'lead.created', { lead_id: 'L5', card_id: 'k5' }, 1);
    let commits = 0;
    const dies = new BigtableChainLog(
      interceptCommits(t, async () => {
        if (++commits === 2) throw new Error('the instance died between its two commits');
      }),
    );
    await expect(step(dies, lead, T0 + MIN)).rejects.toThrow('died');
    const again = new BigtableChainLog(t);
    expect(await step(again, lead, T0 + MIN)).toEqual([]);
    // The card's chain is closed; the lead waits for its CRM sync, and is reported broken once.
    const at = T0 + 30 * MIN;
    const swept = await again.sweep(at, ctxAt(Date.now()), 100);
    expect(kinds(swept.messages)).toEqual(['chain_broken']);
    expect(swept.messages[0]!.data).toContain('l5');
    expect((await again.sweep(at, ctxAt(Date.now()), 100)).messages).toEqual([]);
  });

  it('after an upgrade from chains in Firestore: the chains open there are carried on, each reported once, and their documents go', async () => {
    const { firestore } = emulatorClients();
    try {
      const prefix = `${runPrefix('btupgrade')}gap`;
      const before = new FirestoreGapStore(firestore, prefix);
      const memory = new MemoryGapStore();
      const reported: OutboxMessage[] = [];
      const both = async (log: BigtableChainLog | FirestoreGapStore, e: BusinessEvent, watermarkMs: number) => {
        const out = await step(log, e, watermarkMs);
        expect(ids(out)).toEqual(ids(await step(memory, e, watermarkMs)));
        reported.push(...out);
      };
      // Before the upgrade, chains in Firestore: L8 is reported broken; k6 and L7 wait.
      await both(before, event('l8', 'lead.created', { lead_id: 'L8' }, 0), T0);
      await both(before, event('s6', 'card.scanned', { card_id: 'k6' }, 15), T0 + 15 * MIN);
      await both(before, event('l7', 'lead.created', { lead_id: 'L7' }, 15), T0 + 15 * MIN);
      const swept = await before.sweepChains(T0 + 20 * MIN, ctxAt(Date.now()), 100);
      expect(ids(swept.messages)).toEqual(ids((await memory.sweepChains(T0 + 20 * MIN, ctxAt(Date.now()), 100)).messages));
      reported.push(...swept.messages);
      // After it, chains in Bigtable, reading Firestore's through.
      const t = await table('btupgrade');
      const after = new BigtableChainLog(t, new FirestoreEarlierChains(firestore, prefix));
      await both(after, event('l6', 'lead.created', { lead_id: 'L6', card_id: 'k6' }, 16), T0 + 16 * MIN);
      await both(after, event('c8', 'crm.synced', { lead_id: 'L8' }, 21), T0 + 21 * MIN);
      const at = T0 + 40 * MIN;
      const late = await after.sweep(at, ctxAt(Date.now()), 100);
      expect(ids(late.messages)).toEqual(ids((await memory.sweepChains(at, ctxAt(Date.now()), 100)).messages));
      reported.push(...late.messages);
      // L8 broken, then closed late; L7 (never touched after the upgrade) and L6 broken; k6 closed in time.
      expect(kinds(reported)).toEqual(['chain_broken', 'chain_broken', 'chain_broken', 'late']);
      expect((await after.sweep(at, ctxAt(Date.now()), 100)).messages).toEqual([]);
      expect((await firestore.collection(`${prefix}-chains`).get()).size).toBe(0);
    } finally {
      await firestore.terminate();
    }
  });

  it('many instances on the same leads at once, with redeliveries: the findings of the in-memory store, each once', async () => {
    const t = await table('btmany');
    const instances = [0, 1, 2, 3].map(() => new BigtableChainLog(t));
    const memory = new MemoryGapStore();
    const events: BusinessEvent[] = [];
    for (let i = 0; i < 25; i++) {
      const k = `k${i}`;
      const l = `L${i}`;
      events.push(event(`s${i}`, 'card.scanned', { card_id: k }, 0));
      // Every third lead never gets its CRM sync, every fifth its follow-up.
      events.push(event(`l${i}`, 'lead.created', { lead_id: l, card_id: k }, 1));
      if (i % 3 !== 0) events.push(event(`c${i}`, 'crm.synced', { lead_id: l }, 2));
      if (i % 3 !== 0 && i % 5 !== 0) events.push(event(`f${i}`, 'followup.sent', { lead_id: l }, 3));
    }
    const watermark = T0 + 5 * MIN;
    for (const e of events) await step(memory, e, watermark);
    // Each event twice, in an order where a lead's events overlap across instances.
    const deliveries = [...events, ...events].map((e, i) => ({ e, i: (i * 7919) % (2 * events.length) })).sort((a, b) => a.i - b.i);
    await Promise.all(deliveries.map(({ e }, n) => delivered(instances[n % instances.length]!, e, watermark)));
    const at = T0 + 2 * HOUR;
    const expected = await memory.sweepChains(at, ctxAt(Date.now()), 1000);
    const reported: OutboxMessage[] = [];
    for (let page = 0; page < 20; page++) {
      const { swept, messages } = await instances[page % instances.length]!.sweep(at, ctxAt(Date.now()), 10);
      reported.push(...messages);
      if (swept === 0) break;
    }
    expect(ids(reported)).toEqual(ids(expected.messages));
    expect(new Set(ids(reported)).size).toBe(reported.length);
    // Nine leads without a CRM sync (every third), three more without a follow-up (5, 10, 20).
    expect(reported.length).toBe(9 + 3);
    expect(await rows(t, 'd#')).toBe(0);
  }, 120_000);
});
