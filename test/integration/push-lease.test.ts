import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PubSub } from '@google-cloud/pubsub';
import { ensureTopology } from '../../shared/adapters/pubsub-admin';
import { topology, TOPICS } from '../../shared/topology';
import { PushGateway } from '../../tools/local/push-gateway';
import { emulatorClients, Observer, runPrefix } from '../support/harness';

/**
 * Issue 19, point 3: a healthy function that is merely slower than the messages arrive (a busy
 * machine, a burst) must not have its messages dead-lettered. The endpoint answers every push
 * 204, but takes them a few at a time, so that a backlog of 2,000 messages takes it well over
 * the 10 s the client leases a message for before it extends the lease.
 */
const MESSAGES = 2000;
const SUB = 'deduplicator-events-raw';
/** Pushes the endpoint works on at once; the others wait for a turn (as requests queue for a busy instance). */
const SERVING = 4;
const SERVICE_MS = 40;

interface PushRequestBody {
  message: { messageId: string };
  deliveryAttempt?: number;
}

/** A function that is never wrong, only slow: SERVING pushes at a time, each SERVICE_MS. */
class SlowEndpoint {
  /** Pushes per message id, and the highest deliveryAttempt each one carried. */
  readonly pushes = new Map<string, number>();
  readonly attempts = new Map<string, number>();
  private busy = 0;
  private readonly queue: Array<() => void> = [];
  private readonly server: Server;

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as PushRequestBody;
        this.turn(() => {
          const id = body.message.messageId;
          this.pushes.set(id, (this.pushes.get(id) ?? 0) + 1);
          this.attempts.set(id, Math.max(this.attempts.get(id) ?? 0, body.deliveryAttempt ?? 0));
          setTimeout(() => {
            res.writeHead(204).end();
            this.busy--;
            this.queue.shift()?.();
          }, SERVICE_MS);
        });
      });
    });
  }

  private turn(work: () => void): void {
    const run = () => {
      this.busy++;
      work();
    };
    if (this.busy < SERVING) run();
    else this.queue.push(run);
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

async function until(done: () => boolean, what: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('local push delivery under a backlog: a slow, healthy function', () => {
  let pubsub: PubSub;
  beforeAll(() => {
    ({ pubsub } = emulatorClients());
  });
  afterAll(() => pubsub.close());

  it('2,000 messages at once to a function that takes them a few at a time: each acked, none dead-lettered, none pushed again', async () => {
    const prefix = runPrefix('pushlease');
    const endpoint = new SlowEndpoint();
    const url = await endpoint.listen();
    const subscriptions = await ensureTopology(pubsub, topology, { prefix, only: (s) => s.name === SUB });
    const deadLetters = await Observer.on(pubsub, prefix + TOPICS.deadLetters, `${prefix}obs-dead`);
    const gateway = await PushGateway.start({ pubsub, prefix, subscriptions, endpoint: () => url });
    try {
      const topic = pubsub.topic(prefix + TOPICS.raw, { batching: { maxMessages: 500, maxMilliseconds: 5 } });
      const published = await Promise.all(Array.from({ length: MESSAGES }, (_, i) => topic.publishMessage({ data: Buffer.from(`message ${i}`) })));
      await until(
        () => gateway.stats(SUB).acked.size + deadLetters.messages.length >= MESSAGES,
        () => `${MESSAGES} messages: ${gateway.stats(SUB).acked.size} acked, ${deadLetters.messages.length} dead-lettered`,
        240_000,
      );
      const pushedAgain = [...endpoint.pushes.values()].filter((n) => n > 1).length;
      const laterAttempts = [...endpoint.attempts.values()].filter((n) => n > 1).length;
      // By the highest deliveryAttempt a message was pushed with: before the fix, a backlog made
      // the emulator redeliver messages that were only waiting (their lease ran out unseen).
      const byAttempt: Record<number, number> = {};
      for (const n of endpoint.attempts.values()) byAttempt[n] = (byAttempt[n] ?? 0) + 1;
      expect({ deadLettered: deadLetters.messages.length, pushedAgain, laterAttempts, failed: gateway.stats(SUB).failed, byAttempt }).toEqual({
        deadLettered: 0,
        pushedAgain: 0,
        laterAttempts: 0,
        failed: 0,
        byAttempt: { 1: MESSAGES },
      });
      expect(new Set(gateway.stats(SUB).acked)).toEqual(new Set(published));
    } finally {
      await gateway.close();
      await deadLetters.close();
      await endpoint.close();
    }
  }, 300_000);
});

describe('local push delivery applies the subscription filter, as GCP does and the emulator does not', () => {
  let pubsub: PubSub;
  beforeAll(() => {
    ({ pubsub } = emulatorClients());
  });
  afterAll(() => pubsub.close());

  it('pushes only the messages that match; the others are acknowledged without a push', async () => {
    // revenue-checker-sales: attributes.type = "sale.recorded" on events-unique. Without the
    // filter applied, revenue-checker (and every other filtered consumer) was pushed every event.
    const FILTERED = 'revenue-checker-sales';
    const prefix = runPrefix('pushfilter');
    const endpoint = new SlowEndpoint();
    const url = await endpoint.listen();
    const subscriptions = await ensureTopology(pubsub, topology, { prefix, only: (s) => s.name === FILTERED });
    const gateway = await PushGateway.start({ pubsub, prefix, subscriptions, endpoint: () => url });
    try {
      const topic = pubsub.topic(prefix + TOPICS.unique);
      const types = Array.from({ length: 60 }, (_, i) => (i % 3 === 0 ? 'sale.recorded' : 'call.completed'));
      const ids = await Promise.all(types.map((type, i) => topic.publishMessage({ data: Buffer.from(`event ${i}`), attributes: { type } })));
      const sales = ids.filter((_, i) => types[i] === 'sale.recorded');
      const stats = gateway.stats(FILTERED);
      await until(
        () => stats.acked.size + stats.filtered.size >= ids.length,
        () => `${ids.length} messages: ${stats.acked.size} acked after a push, ${stats.filtered.size} filtered out`,
        120_000,
      );
      expect(new Set(endpoint.pushes.keys())).toEqual(new Set(sales));
      expect(new Set(stats.acked)).toEqual(new Set(sales));
      expect(new Set(stats.filtered)).toEqual(new Set(ids.filter((id) => !sales.includes(id))));
      expect(stats.requests).toBe(sales.length);
    } finally {
      await gateway.close();
      await endpoint.close();
    }
  }, 180_000);
});

/** Answers every push 204 after SERVICE_MS, and counts how many it had in flight at once. */
class CountingEndpoint {
  inFlight = 0;
  maxInFlight = 0;
  answered = 0;
  private readonly server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      this.inFlight++;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      setTimeout(() => {
        this.inFlight--;
        this.answered++;
        res.writeHead(204).end();
      }, SERVICE_MS);
    });
  });

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe("local push delivery within a function's deployed concurrency (npm run cost)", () => {
  let pubsub: PubSub;
  beforeAll(() => {
    ({ pubsub } = emulatorClients());
  });
  afterAll(() => pubsub.close());

  /** gap-detector's three subscriptions, a backlog of `each` messages on each: the most pushes its endpoint had at once. */
  async function backlog(functionConcurrency: number | undefined, each: number) {
    const prefix = runPrefix('pushcap');
    const endpoint = new CountingEndpoint();
    const url = await endpoint.listen();
    const subscriptions = await ensureTopology(pubsub, topology, { prefix, only: (s) => s.function === 'gap-detector' });
    const gateway = await PushGateway.start({
      pubsub,
      prefix,
      subscriptions,
      endpoint: () => url,
      ...(functionConcurrency === undefined ? {} : { functionConcurrency: (fn: string) => (fn === 'gap-detector' ? functionConcurrency : undefined) }),
    });
    try {
      const ids = (await Promise.all(subscriptions.map((s) => Promise.all(Array.from({ length: each }, (_, i) => pubsub.topic(prefix + s.topic).publishMessage({ data: Buffer.from(`m ${i}`) })))))).flat();
      const acked = () => subscriptions.reduce((n, s) => n + gateway.stats(s.name).acked.size, 0);
      await until(() => acked() >= ids.length, () => `${ids.length} messages: ${acked()} acked`, 120_000);
      const records = subscriptions.flatMap((s) => gateway.stats(s.name).pushes);
      // The most requests the gateway's own records have overlapping (what the cost run's union of intervals reads).
      const edges = records.flatMap((r) => [[r.startedAt, 1], [r.startedAt + r.ms, -1]] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      let open = 0;
      let recorded = 0;
      for (const [, d] of edges) recorded = Math.max(recorded, (open += d));
      return { subscriptions: subscriptions.length, maxInFlight: endpoint.maxInFlight, recordedMax: recorded, pushes: records.length, failed: records.filter((r) => !r.ok).length, acked: acked(), messages: ids.length };
    } finally {
      await gateway.close();
      await endpoint.close();
    }
  }

  it('pushes a function with three subscriptions at most its concurrency at once over all three, and every message still goes through', async () => {
    const capped = await backlog(2, 30);
    expect(capped).toEqual({ subscriptions: 3, maxInFlight: 2, recordedMax: 2, pushes: 90, failed: 0, acked: 90, messages: 90 });
    // Without the bound the same backlog is pushed more at once (so the bound above is what held it).
    const free = await backlog(undefined, 30);
    expect(free.maxInFlight).toBeGreaterThan(2);
  }, 300_000);
});
