import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Firestore } from '@google-cloud/firestore';
import type { PubSub } from '@google-cloud/pubsub';
import { bigtableInstance, ensureTables } from '../../shared/adapters/bigtable';
import { ensureTopology } from '../../shared/adapters/pubsub-admin';
import { DEDUP_TABLE } from '../../functions/deduplicator/bigtable-state';
import { INGEST_ID } from '../../shared/attributes';
import { topology, TOPICS } from '../../shared/topology';
import { serveFunction, type ServedFunction } from '../../tools/local/functions';
import { PushGateway } from '../../tools/local/push-gateway';
import { emulatorClients, Observer, runPrefix } from '../support/harness';
import { cardScanned } from '../support/events';
import { ensureBuilt } from '../support/build';

/**
 * Issue 13 item 6: a function process that dies mid-stream. The local stack's own pieces (the
 * built functions served by the Functions Framework in processes of their own, started again
 * when they die; ensureTopology; the push gateway) on the emulators: the deduplicator is killed
 * twice while 600 events flow, and every event still reaches events-unique, each accepted once,
 * and each death is recorded with its cause and the dead instance's own last lines.
 */
const ROOT = join(__dirname, '..', '..');
const SOURCE = join(ROOT, 'dist', 'functions', 'index.js');
const EVENTS = 600;

async function until(done: () => boolean, what: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.each(['firestore', 'bigtable'] as const)('a function process that dies mid-stream is started again and loses nothing (deduplicator state in %s)', (store) => {
  const prefix = runPrefix(`restart${store === 'firestore' ? 'fs' : 'bt'}`);
  const logDir = mkdtempSync(join(tmpdir(), 'function-restart-'));
  let pubsub: PubSub;
  const served: ServedFunction[] = [];
  let gateway: PushGateway | undefined;
  let unique: Observer;

  beforeAll(async () => {
    ensureBuilt();
    ({ pubsub } = emulatorClients());
    // A short claim lease: a claim the dead instance held is taken over well within the redelivery attempts.
    const env = { ...process.env, RESOURCE_PREFIX: prefix, DEDUP_LEASE_SECONDS: '2', STATE_STORE: store, DEDUP_COLLECTION: `${prefix}dedup`, BIGTABLE_INSTANCE: 'event-recovery-test', DEDUP_TABLE: `${prefix}dedup` };
    if (store === 'bigtable') {
      // Terraform makes the table in GCP, the local stack on its emulator; here the test does.
      const instance = bigtableInstance(env.BIGTABLE_INSTANCE);
      await ensureTables(instance, [{ table: env.DEDUP_TABLE, families: DEDUP_TABLE.families }]);
      await instance.bigtable.close();
    }
    for (const name of ['deduplicator']) {
      const outcome = await serveFunction(name, { source: SOURCE, env, logDir });
      if (outcome.kind !== 'served') throw new Error(`${name} is not registered by ${SOURCE}`);
      served.push(outcome.fn);
    }
    const subscriptions = await ensureTopology(pubsub, topology, { prefix, only: (s) => s.function === 'deduplicator' });
    unique = await Observer.on(pubsub, prefix + TOPICS.unique, `${prefix}obs-unique`);
    gateway = await PushGateway.start({ pubsub, prefix, subscriptions, endpoint: (fn) => served.find((f) => f.name === fn)?.url });
  }, 120_000);

  afterAll(async () => {
    await gateway?.close();
    await unique?.close();
    await Promise.all(served.map((f) => f.stop()));
    await pubsub.close();
    rmSync(logDir, { recursive: true, force: true });
  });

  it('kills the deduplicator twice mid-stream: every event through once, each death told with its own last lines', async () => {
    const dedup = served.find((f) => f.name === 'deduplicator')!;
    const time = new Date().toISOString();
    const raw = pubsub.topic(prefix + TOPICS.raw, { batching: { maxMessages: 500, maxMilliseconds: 5 } });
    const ids = Array.from({ length: EVENTS }, (_, i) => `restart-${i}`);
    const publishing = Promise.all(ids.map((id, i) => raw.publishMessage({ json: cardScanned({ id, time, data: { card_id: `card-${i}` } }) })));
    const killed: number[] = [];
    for (const after of [EVENTS * 0.2, EVENTS * 0.5]) {
      await until(() => unique.messages.length >= after, () => `${after} events on events-unique (have ${unique.messages.length})`, 120_000);
      const deaths = dedup.deaths.length;
      killed.push(dedup.process.pid);
      process.kill(dedup.process.pid, 'SIGKILL');
      await until(() => dedup.deaths.length > deaths, () => 'the deduplicator to be started again', 60_000);
    }
    await publishing;
    const seen = () => new Set(unique.messages.map((m) => m.attributes.id));
    await until(() => seen().size >= EVENTS, () => `${EVENTS} events on events-unique (have ${seen().size})`, 180_000);

    expect(seen()).toEqual(new Set(ids));
    // Accepted once: a second copy on events-unique can only be the same delivery published again.
    const deliveries = new Map<string, Set<string>>();
    for (const m of unique.messages) deliveries.set(m.attributes.id!, (deliveries.get(m.attributes.id!) ?? new Set()).add(m.attributes[INGEST_ID]!));
    expect([...deliveries].filter(([, d]) => d.size > 1)).toEqual([]);

    expect(dedup.deaths.map((d) => ({ pid: d.pid, cause: d.cause, restarted: d.restarted }))).toEqual(
      killed.map((pid) => ({ pid, cause: 'killed by SIGKILL', restarted: true })),
    );
    expect(dedup.failure).toBeUndefined();
    // The keys are where STATE_STORE put them: a row per key in Bigtable (id, card, content), a
    // document per id and card in Firestore (the content key lives in the card's document).
    if (store === 'bigtable') {
      const instance = bigtableInstance('event-recovery-test');
      const [rows] = await instance.table(`${prefix}dedup`).getRows();
      await instance.bigtable.close();
      expect(rows).toHaveLength(EVENTS * 3);
    } else {
      const firestore = new Firestore();
      const count = (await firestore.collection(`${prefix}dedup`).count().get()).data().count;
      await firestore.terminate();
      expect(count).toBe(EVENTS * 2);
    }
    expect(gateway!.stats('deduplicator-events-raw').failed).toBeGreaterThan(0);
    // Each death holds the last lines of the instance that died, none of an earlier one: the log
    // holds the instances one after the other, each after the stack's note about the one before.
    const segments = readFileSync(dedup.logPath, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .reduce<string[][]>((acc, line) => (line.includes('local stack: instance') ? [...acc, []] : (acc.at(-1)!.push(line), acc)), [[]]);
    expect(segments.length).toBeGreaterThanOrEqual(3);
    dedup.deaths.forEach((death, i) => {
      // Every line an entry (the framework's banner too); a death keeps what its last entries said.
      const own = segments[i]!.map((line) => (JSON.parse(line) as { message: string }).message);
      expect(own).toContain('Serving function...');
      expect(death.lastLines).toHaveLength(Math.min(20, own.length));
      expect(own).toEqual(expect.arrayContaining([...death.lastLines]));
    });
  }, 300_000);
});
