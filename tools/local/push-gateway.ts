import { Agent, request } from 'node:http';
import { status } from '@grpc/grpc-js';
import { filterMatches } from './filter';
import { v1, type PubSub, type protos } from '@google-cloud/pubsub';
import type { ResolvedSubscription } from '../../shared/topology';

/** What a function did with the deliveries of one subscription. */
export interface DeliveryStats {
  /** Message ids the function acknowledged (answered 2xx). */
  readonly acked: Set<string>;
  /** Message ids that did not match the subscription's filter: acknowledged without a push, as GCP does. */
  readonly filtered: Set<string>;
  requests: number;
  /** Non-2xx answers, failed connections and timeouts: each one is redelivered after the backoff. */
  failed: number;
  /** Connections refused (no instance listening): knocked again, no attempt used. */
  refused: number;
  /** Failed final attempts: the emulator moves those to the dead-letter topic. */
  deadLettered: number;
  lastAt: number;
  /** How long each acknowledged push took the function, in ms. */
  readonly handlerMs: number[];
  /** Pulls sent to the emulator, and those that ended cancelled (close() cancels those still waiting for its answer). */
  pulls: number;
  cancelledPulls: number;
  /** Every push once answered (what `npm run cost` counts): its size, its attributes, how long it took. */
  readonly pushes: PushRecord[];
}

/** One push request, as Pub/Sub bills it (see tools/cost). */
export interface PushRecord {
  /** Data + attribute keys and values + the message id, in bytes (Pub/Sub adds 20 for the timestamp). */
  readonly bytes: number;
  readonly attributes: Readonly<Record<string, string>>;
  /** When the POST went out (epoch ms) and how long its answer took: the request's interval on the instance. */
  readonly startedAt: number;
  readonly ms: number;
  readonly ok: boolean;
}

/** Redelivery backoff: `minimumMs` × 2^(attempt - 1), at most `maximumMs` (Pub/Sub's exponential retry policy). */
export interface Backoff {
  readonly minimumMs: number;
  readonly maximumMs: number;
}

/**
 * The local stack runs the manifest's retry policy this many times faster than GCP (10 s-600 s
 * there, 1 s-60 s here): a message that keeps failing reaches its dead-letter topic in about 15 s
 * instead of 2.5 minutes, while a function that is down for several seconds (restarting, say)
 * still gets every message back before its attempts run out.
 */
export const LOCAL_BACKOFF_SCALE = 10;

/** How long a push waits before it knocks again on a port nothing listens on. */
const REFUSED_PAUSE_MS = 250;

export function localBackoff(sub: ResolvedSubscription): Backoff {
  return {
    minimumMs: (sub.retryPolicy.minimumBackoffSeconds * 1000) / LOCAL_BACKOFF_SCALE,
    maximumMs: (sub.retryPolicy.maximumBackoffSeconds * 1000) / LOCAL_BACKOFF_SCALE,
  };
}

export function backoffMs(backoff: Backoff, attempt: number): number {
  return Math.min(backoff.maximumMs, backoff.minimumMs * 2 ** Math.max(0, attempt - 1));
}

export interface GatewayOptions {
  readonly pubsub: PubSub;
  /** Prepended to topic and subscription names, as `ensureTopology` created them. */
  readonly prefix?: string;
  /** The push subscriptions to deliver (from `ensureTopology`); those of functions without an endpoint stay pull. */
  readonly subscriptions: readonly ResolvedSubscription[];
  /**
   * Base URL of a function's push endpoint, asked at every delivery (a restarted function may
   * listen elsewhere); `undefined` while it cannot take one, which counts as a failed push.
   */
  readonly endpoint: (functionName: string) => string | undefined;
  /** Default: the manifest's retry policy, {@link LOCAL_BACKOFF_SCALE} times faster. */
  readonly backoff?: (sub: ResolvedSubscription) => Backoff;
  /** Deliveries in flight per subscription. */
  readonly concurrency?: number;
  /**
   * Deliveries in flight per function, over all its subscriptions (none: only the per-subscription
   * bound): what GCP's push gives one instance deployed with that concurrency. `npm run cost` sets
   * it to each function's deployed concurrency so that the instance time it counts is what one
   * such instance would be billed.
   */
  readonly functionConcurrency?: (functionName: string) => number | undefined;
  /**
   * The push's `Authorization` header for a function's endpoint (its base URL is the audience),
   * as GCP's push attaches the push identity's OIDC token; none when absent or undefined.
   */
  readonly authorization?: (functionName: string, base: string) => string | undefined;
}

/** One function's bound on pushes in flight, shared by its subscriptions' pull loops. */
interface FunctionSlots {
  inFlight: number;
  readonly limit: number;
  /** Pulled and held, waiting for a slot: pushed in turn, or given back (nacked) when the gateway closes. */
  readonly queue: Array<{ readonly push: () => void; readonly drop: () => void }>;
  readonly waiters: Set<() => void>;
}

/**
 * A message as the gateway holds it: what a synchronous pull returned, until it is acked or nacked.
 */
interface Held {
  readonly ackId: string;
  readonly id: string;
  readonly data: Buffer;
  readonly attributes: Readonly<Record<string, string>>;
  readonly publishTime: Date;
  readonly orderingKey?: string;
  /** 1 on first delivery; the emulator counts it only where a dead-letter policy is set. */
  readonly deliveryAttempt: number;
}

/** How often the gateway extends what it holds, as a share of the subscription's ack deadline. */
const LEASE_SHARE = 1 / 3;
/** Pauses between pulls that came back empty, growing from the first to the second (ms). */
const IDLE_PULL_MS = [20, 250] as const;
/** Acks and nacks are sent in batches, at most this long after they are decided. */
const FLUSH_MS = 10;

/**
 * Push delivery for the local stack, at least once. The Pub/Sub emulator's own push is not:
 * on a subscription with a retry policy it stops pushing a message after its second failed
 * attempt and never delivers it again (DESIGN §8). So `ensureTopology` creates the push
 * subscriptions of the manifest as pull subscriptions (with their dead-letter policy, without the
 * retry policy) and this gateway does what GCP's push does: it pulls messages, POSTs the body GCP
 * would POST (the wrapped message, `subscription`, and `deliveryAttempt` where a dead-letter
 * policy is set) to the function at `/projects/P/topics/T` so that the Functions Framework's
 * CloudEvent names the topic as its source, acks on 2xx, and otherwise holds the message for the
 * retry policy's backoff before it nacks it, so that the emulator redelivers it and, after the
 * subscription's maximum delivery attempts, dead-letters it.
 *
 * It pulls only what it can push at once (synchronous pull, `maxMessages` = free delivery slots)
 * and extends the ack deadline of everything it holds, pushing or waiting out a backoff, every
 * third of the deadline, as the Pub/Sub client's lease management does. A streaming pull did
 * not: the emulator streams a backlog regardless of the client's flow control, and the messages
 * waiting unseen behind the paused stream ran out their lease and came back with their delivery
 * attempt counted: with no push failing, a 20 s backlog of 2,000 messages was pushed with
 * delivery attempts up to 3 and 518 of them twice (test/integration/push-lease.test.ts), and a
 * longer one dead-lettered messages whose handler had succeeded (issue 19).
 *
 * It also records, per subscription, which messages the function acknowledged: that is how the
 * stack knows a function is done with what reached its topics, which no topic shows for a
 * function that publishes nothing for most messages.
 */
export class PushGateway {
  private readonly bySubscription = new Map<string, DeliveryStats>();
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 256 });
  private readonly client: InstanceType<typeof v1.SubscriberClient>;
  private readonly wakers = new Set<() => void>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly waiting = new Set<{ timer: NodeJS.Timeout; release: () => void }>();
  private readonly flushers: Array<() => Promise<void>> = [];
  /** Each subscription's pull loop: close() waits for them, so that no pull ends after it. */
  private readonly loops: Array<Promise<void>> = [];
  /** The pulls waiting on the emulator now: close() cancels them rather than wait out their 30 s. */
  private readonly pulls = new Set<{ cancel?: () => void }>();
  /**
   * Per function with a {@link GatewayOptions.functionConcurrency}: its pushes in flight, the
   * messages pulled for it that wait for one of its slots (in arrival order, over all its
   * subscriptions; held and leased like the others), and the pull loops waiting for room.
   */
  private readonly functionSlots = new Map<string, FunctionSlots>();
  private closed = false;

  private constructor(private readonly options: GatewayOptions) {
    this.client = new v1.SubscriberClient({ ...options.pubsub.options });
  }

  static async start(options: GatewayOptions): Promise<PushGateway> {
    for (const sub of options.subscriptions) filterMatches(sub.filter, {}); // a filter it cannot apply fails here, not per message
    await options.pubsub.getClientConfig(); // resolves the project id
    const gateway = new PushGateway(options);
    await gateway.client.initialize(); // its inner calls, which the pulls use
    for (const sub of options.subscriptions) {
      if (sub.delivery !== 'push' || !sub.function) continue;
      gateway.deliver(sub);
    }
    return gateway;
  }

  /** Delivery stats of a subscription by its short name (what the manifest calls it). */
  stats(subscription: string): DeliveryStats {
    let stats = this.bySubscription.get(subscription);
    if (!stats) {
      stats = { acked: new Set(), filtered: new Set(), requests: 0, failed: 0, refused: 0, deadLettered: 0, lastAt: 0, handlerMs: [], pushes: [], pulls: 0, cancelledPulls: 0 };
      this.bySubscription.set(subscription, stats);
    }
    return stats;
  }

  /** The function's shared slots, or undefined when only the per-subscription bound applies. */
  private slotsOf(fn: string): FunctionSlots | undefined {
    let slots = this.functionSlots.get(fn);
    if (!slots) {
      const limit = this.options.functionConcurrency?.(fn);
      if (limit === undefined) return undefined;
      if (!(Number.isInteger(limit) && limit >= 1)) throw new RangeError(`functionConcurrency(${fn}) must be a whole number of at least 1, not ${limit}`);
      slots = { inFlight: 0, limit, queue: [], waiters: new Set() };
      this.functionSlots.set(fn, slots);
    }
    return slots;
  }

  private deliver(sub: ResolvedSubscription): void {
    const { pubsub } = this.options;
    const prefix = this.options.prefix ?? '';
    const project = pubsub.projectId;
    const fullName = `projects/${project}/subscriptions/${prefix}${sub.name}`;
    const path = `/projects/${project}/topics/${prefix}${sub.topic}`;
    const backoff = (this.options.backoff ?? localBackoff)(sub);
    const concurrency = this.options.concurrency ?? 64;
    const stats = this.stats(sub.name);
    const held = new Map<string, Held>();
    let pushing = 0;
    let slotFreed: (() => void) | undefined;
    const shared = this.slotsOf(sub.function!);
    /** A push of the function ended: the next message waiting for it (from any of its subscriptions) goes out, and the pull loops waiting for room look again. */
    const releaseShared = () => {
      if (!shared) return;
      shared.inFlight--;
      const next = this.closed ? undefined : shared.queue.shift();
      if (next) {
        shared.inFlight++;
        next.push();
      }
      for (const wake of [...shared.waiters]) {
        shared.waiters.delete(wake);
        this.wakers.delete(wake);
        wake();
      }
    };
    const freeSlot = () => {
      pushing--;
      releaseShared();
      if (slotFreed) this.wakers.delete(slotFreed);
      slotFreed?.();
      slotFreed = undefined;
    };

    const acks: string[] = [];
    const nacks: string[] = [];
    let flushTimer: NodeJS.Timeout | undefined;
    const flush = async () => {
      flushTimer = undefined;
      const a = acks.splice(0);
      const n = nacks.splice(0);
      // A lost ack or nack only means a redelivery (at least once); the lease keeps the others.
      await Promise.all([
        a.length ? this.client.acknowledge({ subscription: fullName, ackIds: a }).catch(() => undefined) : undefined,
        n.length ? this.client.modifyAckDeadline({ subscription: fullName, ackIds: n, ackDeadlineSeconds: 0 }).catch(() => undefined) : undefined,
      ]);
    };
    this.flushers.push(flush);
    const settle = (message: Held, into: string[]) => {
      held.delete(message.ackId);
      into.push(message.ackId);
      flushTimer ??= setTimeout(() => void flush(), FLUSH_MS);
    };

    // The lease: everything held, pushing or waiting out its backoff, gets the full deadline again.
    const leaseMs = sub.ackDeadlineSeconds * 1000 * LEASE_SHARE;
    this.timers.push(
      setInterval(() => {
        if (held.size === 0 || this.closed) return;
        const ackIds = [...held.keys()];
        void this.client.modifyAckDeadline({ subscription: fullName, ackIds, ackDeadlineSeconds: sub.ackDeadlineSeconds }).catch(() => undefined);
      }, leaseMs),
    );

    const push = (message: Held) => {
      const attempt = message.deliveryAttempt;
      const body = JSON.stringify(pushBody(message, fullName, sub.deadLetterTopic ? attempt : undefined));
      stats.requests++;
      stats.lastAt = Date.now();
      const started = Date.now();
      void this.post(sub.function!, path, body, sub.ackDeadlineSeconds * 1000, stats).then((ok) => {
        // Read before the slot is freed: the next push it lets out starts after this one ended.
        const ended = Date.now();
        stats.lastAt = ended;
        freeSlot();
        if (this.closed) return;
        stats.pushes.push({ bytes: messageBytes(message), attributes: message.attributes, startedAt: started, ms: ended - started, ok });
        if (ok) {
          stats.acked.add(message.id);
          stats.handlerMs.push(ended - started);
          settle(message, acks);
          return;
        }
        stats.failed++;
        if (sub.deadLetterTopic && attempt >= sub.maxDeliveryAttempts) {
          // The last attempt failed: nacked at once, the emulator forwards it to the dead-letter topic.
          stats.deadLettered++;
          settle(message, nacks);
          return;
        }
        const entry = {
          release: () => settle(message, nacks),
          timer: setTimeout(() => {
            this.waiting.delete(entry);
            entry.release();
          }, backoffMs(backoff, attempt)),
        };
        this.waiting.add(entry);
      });
    };

    const loop = async () => {
      let idle = 0;
      while (!this.closed) {
        if (pushing >= concurrency) {
          await new Promise<void>((resolve) => {
            slotFreed = resolve;
            this.wakers.add(resolve);
          });
          continue;
        }
        // The function's own bound, shared with its other subscriptions: pull no more than it has
        // free (two loops may still pull for the same slot: the later message waits its turn in
        // the function's queue, leased like everything held, rather than a slot being reserved
        // for the length of a pull that may come back empty).
        const free = shared ? Math.min(concurrency - pushing, shared.limit - shared.inFlight - shared.queue.length) : concurrency - pushing;
        if (shared && free <= 0) {
          await new Promise<void>((resolve) => {
            shared.waiters.add(resolve);
            this.wakers.add(resolve);
          });
          continue;
        }
        let received: Held[];
        try {
          // Through the client's inner call, whose promise google-gax makes cancellable (its
          // `cancel`), so that close() can cancel it; `pull` wraps that promise in a plain one.
          const pulling = this.client.innerApiCalls.pull!({ subscription: fullName, maxMessages: free }, { timeout: 30_000 }) as Promise<[protos.google.pubsub.v1.IPullResponse]> & { cancel?: () => void };
          this.pulls.add(pulling);
          stats.pulls++;
          try {
            const [answer] = await pulling;
            received = (answer.receivedMessages ?? []).flatMap((r) => (r.ackId && r.message ? [toHeld(r.ackId, r.message, r.deliveryAttempt)] : []));
          } finally {
            this.pulls.delete(pulling);
          }
        } catch (err) {
          if ((err as { code?: unknown }).code === status.CANCELLED) stats.cancelledPulls++;
          received = []; // the emulator busy or restarting (or the gateway closing): pull again after a pause
        }
        if (this.closed) {
          if (received.length) nacks.push(...received.map((m) => m.ackId));
          break;
        }
        for (const m of received) {
          if (!filterMatches(sub.filter, m.attributes)) {
            // GCP acknowledges what does not match the filter itself and never pushes it.
            stats.filtered.add(m.id);
            acks.push(m.ackId);
            flushTimer ??= setTimeout(() => void flush(), FLUSH_MS);
            continue;
          }
          held.set(m.ackId, m);
          pushing++;
          if (!shared) push(m);
          else if (shared.inFlight < shared.limit) {
            shared.inFlight++;
            push(m);
          } else
            shared.queue.push({
              push: () => push(m),
              drop: () => {
                pushing--;
                settle(m, nacks);
              },
            });
        }
        if (received.length > 0) idle = 0;
        else {
          await new Promise((r) => setTimeout(r, Math.min(IDLE_PULL_MS[1], IDLE_PULL_MS[0] * 2 ** idle)));
          idle++;
        }
      }
    };
    this.loops.push(loop());
  }

  /**
   * POSTs one push; resolves true on a 2xx answer, false on anything else (and never rejects).
   * A refused connection is no attempt: no instance is listening (a dead one being replaced), and
   * GCP's push waits for an instance to start rather than fail the message, so the POST is tried
   * again until the ack deadline; otherwise each death of an instance would use up one of the
   * delivery attempts of every message held meanwhile and dead-letter them when it restarts slowly.
   */
  private async post(fn: string, path: string, body: string, timeoutMs: number, stats: DeliveryStats): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const base = this.options.endpoint(fn);
      const authorization = base === undefined ? undefined : this.options.authorization?.(fn, base);
      const answer = await this.postOnce(base, path, body, timeoutMs, authorization);
      if (answer !== 'refused') return answer;
      stats.refused++;
      if (this.closed || Date.now() + REFUSED_PAUSE_MS >= deadline) return false;
      await new Promise((r) => setTimeout(r, REFUSED_PAUSE_MS));
    }
  }

  private postOnce(base: string | undefined, path: string, body: string, timeoutMs: number, authorization: string | undefined): Promise<boolean | 'refused'> {
    if (base === undefined) return Promise.resolve(false);
    const target = new URL(base);
    return new Promise((resolve) => {
      const req = request(
        {
          host: target.hostname,
          port: target.port,
          path,
          method: 'POST',
          agent: this.agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...(authorization ? { authorization } : {}) },
        },
        (answer) => {
          answer.resume();
          const status = answer.statusCode ?? 502;
          answer.on('end', () => resolve(status >= 200 && status < 300));
          answer.on('error', () => resolve(false));
        },
      );
      // Like GCP's push: an answer later than the ack deadline counts as a failure.
      req.setTimeout(timeoutMs, () => req.destroy(new Error('push timed out')));
      req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED' ? 'refused' : false));
      req.end(body);
    });
  }

  /** Stops pulling; what is held for a backoff goes back to the emulator at once. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    for (const w of this.waiting) {
      clearTimeout(w.timer);
      w.release();
    }
    this.waiting.clear();
    for (const slots of this.functionSlots.values()) for (const waiting of slots.queue.splice(0)) waiting.drop();
    // A loop waiting for a free slot is woken to see it is closed. A pull still waiting on the
    // emulator (up to its 30 s, on a subscription with nothing to deliver) is cancelled: every
    // close() of a gateway waited that out, a stack's shutdown and each test's included. What the
    // emulator had leased to a cancelled pull is delivered again once its ack deadline runs out
    // (at least once, as for any lost answer); what a pull received before the close is nacked.
    for (const wake of this.wakers) wake();
    for (const pull of this.pulls) pull.cancel?.();
    // A pull that ended after close() (in a test, after its environment is gone, where the
    // client's error decoding then fails another test file) is not left behind: wait for every loop.
    await Promise.all(this.loops);
    await Promise.all(this.flushers.map((f) => f()));
    await this.client.close().catch(() => undefined);
    this.agent.destroy();
  }
}

function toHeld(ackId: string, m: protos.google.pubsub.v1.IPubsubMessage, deliveryAttempt: number | null | undefined): Held {
  const seconds = Number(m.publishTime?.seconds ?? 0);
  const nanos = m.publishTime?.nanos ?? 0;
  return {
    ackId,
    id: m.messageId ?? '',
    data: Buffer.from(m.data ?? new Uint8Array()),
    attributes: { ...(m.attributes ?? {}) },
    publishTime: new Date(seconds * 1000 + Math.floor(nanos / 1e6)),
    ...(m.orderingKey ? { orderingKey: m.orderingKey } : {}),
    deliveryAttempt: deliveryAttempt || 1,
  };
}

/** A message's size as Pub/Sub counts it: data, attribute keys and values, message id. */
function messageBytes(message: Held): number {
  let n = message.data.length + Buffer.byteLength(message.id);
  for (const [k, v] of Object.entries(message.attributes)) n += Buffer.byteLength(k) + Buffer.byteLength(v);
  return n;
}

/**
 * The body a GCP push subscription POSTs (the wrapped format the Functions Framework reads):
 * the message with base64 data, both spellings of its id and publish time, its ordering key when
 * it has one, the subscription's full name, and `deliveryAttempt` where a dead-letter policy is set.
 */
export function pushBody(message: Held, subscription: string, deliveryAttempt: number | undefined) {
  const publishTime = message.publishTime.toISOString();
  return {
    message: {
      data: message.data.toString('base64'),
      attributes: { ...message.attributes },
      messageId: message.id,
      message_id: message.id,
      publishTime,
      publish_time: publishTime,
      ...(message.orderingKey ? { orderingKey: message.orderingKey } : {}),
    },
    subscription,
    ...(deliveryAttempt !== undefined ? { deliveryAttempt } : {}),
  };
}
