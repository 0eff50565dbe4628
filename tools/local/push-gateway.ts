import { Agent, request } from 'node:http';
import type { Message, PubSub, Subscription } from '@google-cloud/pubsub';
import type { ResolvedSubscription } from '../../shared/topology';

/** What a function did with the deliveries of one subscription. */
export interface DeliveryStats {
  /** Message ids the function acknowledged (answered 2xx). */
  readonly acked: Set<string>;
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
  /** Every push once answered (what `npm run cost` counts): its size, its attributes, how long it took. */
  readonly pushes: PushRecord[];
}

/** One push request, as Pub/Sub bills it (see tools/cost). */
export interface PushRecord {
  /** Data + attribute keys and values + the message id, in bytes (Pub/Sub adds 20 for the timestamp). */
  readonly bytes: number;
  readonly attributes: Readonly<Record<string, string>>;
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
}

/**
 * Push delivery for the local stack, at least once. The Pub/Sub emulator's own push is not:
 * on a subscription with a retry policy it stops pushing a message after its second failed
 * attempt and never delivers it again (DESIGN §8). So `ensureTopology` creates the push
 * subscriptions of the manifest as pull subscriptions (with their dead-letter policy, without the
 * retry policy) and this gateway does what GCP's push does: it pulls each message (streaming
 * pull), POSTs the body GCP would POST (the wrapped message, `subscription`, and `deliveryAttempt`
 * where a dead-letter policy is set) to the function at `/projects/P/topics/T` so that the
 * Functions Framework's CloudEvent names the topic as its source, acks on 2xx, and otherwise
 * holds the message for the retry policy's backoff before it nacks it, so that the emulator
 * redelivers it and, after the subscription's maximum delivery attempts, dead-letters it.
 *
 * It also records, per subscription, which messages the function acknowledged: that is how the
 * stack knows a function is done with what reached its topics, which no topic shows for a
 * function that publishes nothing for most messages.
 */
export class PushGateway {
  private readonly bySubscription = new Map<string, DeliveryStats>();
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 256 });
  private readonly subscriptions: Subscription[] = [];
  private readonly waiting = new Set<{ timer: NodeJS.Timeout; message: Message }>();
  private closed = false;

  private constructor(private readonly options: GatewayOptions) {}

  static async start(options: GatewayOptions): Promise<PushGateway> {
    const gateway = new PushGateway(options);
    await options.pubsub.getClientConfig(); // resolves the project id
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
      stats = { acked: new Set(), requests: 0, failed: 0, refused: 0, deadLettered: 0, lastAt: 0, handlerMs: [], pushes: [] };
      this.bySubscription.set(subscription, stats);
    }
    return stats;
  }

  private deliver(sub: ResolvedSubscription): void {
    const { pubsub } = this.options;
    const prefix = this.options.prefix ?? '';
    const project = pubsub.projectId;
    const fullName = `projects/${project}/subscriptions/${prefix}${sub.name}`;
    const path = `/projects/${project}/topics/${prefix}${sub.topic}`;
    const backoff = (this.options.backoff ?? localBackoff)(sub);
    const concurrency = this.options.concurrency ?? 64;
    const subscription = pubsub.subscription(prefix + sub.name, {
      // The client extends the lease while a delivery waits for its function or its backoff.
      flowControl: { maxMessages: concurrency, allowExcessMessages: false },
    });
    this.subscriptions.push(subscription);
    const stats = this.stats(sub.name);
    subscription.on('message', (message: Message) => {
      const attempt = message.deliveryAttempt || 1;
      const body = JSON.stringify(pushBody(message, fullName, sub.deadLetterTopic ? attempt : undefined));
      stats.requests++;
      stats.lastAt = Date.now();
      const started = Date.now();
      void this.post(this.options.endpoint(sub.function!), path, body, sub.ackDeadlineSeconds * 1000, stats).then((ok) => {
        stats.lastAt = Date.now();
        if (this.closed) return;
        stats.pushes.push({ bytes: messageBytes(message), attributes: message.attributes, ms: Date.now() - started, ok });
        if (ok) {
          stats.acked.add(message.id);
          stats.handlerMs.push(Date.now() - started);
          message.ack();
          return;
        }
        stats.failed++;
        if (sub.deadLetterTopic && attempt >= sub.maxDeliveryAttempts) {
          // The last attempt failed: nacked at once, the emulator forwards it to the dead-letter topic.
          stats.deadLettered++;
          message.nack();
          return;
        }
        const entry = {
          message,
          timer: setTimeout(() => {
            this.waiting.delete(entry);
            message.nack();
          }, backoffMs(backoff, attempt)),
        };
        this.waiting.add(entry);
      });
    });
    // A stream error is retried by the client itself; one that ends it is for the owner's log.
    subscription.on('error', () => undefined);
  }

  /**
   * POSTs one push; resolves true on a 2xx answer, false on anything else (and never rejects).
   * A refused connection is no attempt: no instance is listening (a dead one being replaced), and
   * GCP's push waits for an instance to start rather than fail the message, so the POST is tried
   * again until the ack deadline; otherwise each death of an instance would use up one of the
   * delivery attempts of every message held meanwhile and dead-letter them when it restarts slowly.
   */
  private async post(base: string | undefined, path: string, body: string, timeoutMs: number, stats: DeliveryStats): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const answer = await this.postOnce(base, path, body, timeoutMs);
      if (answer !== 'refused') return answer;
      stats.refused++;
      if (this.closed || Date.now() + REFUSED_PAUSE_MS >= deadline) return false;
      await new Promise((r) => setTimeout(r, REFUSED_PAUSE_MS));
    }
  }

  private postOnce(base: string | undefined, path: string, body: string, timeoutMs: number): Promise<boolean | 'refused'> {
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
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
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
    for (const w of this.waiting) {
      clearTimeout(w.timer);
      w.message.nack();
    }
    this.waiting.clear();
    await Promise.all(this.subscriptions.map((s) => s.close().catch(() => undefined)));
    this.agent.destroy();
  }
}

/** A message's size as Pub/Sub counts it: data, attribute keys and values, message id. */
function messageBytes(message: Message): number {
  let n = message.data.length + Buffer.byteLength(message.id);
  for (const [k, v] of Object.entries(message.attributes)) n += Buffer.byteLength(k) + Buffer.byteLength(v);
  return n;
}

/**
 * The body a GCP push subscription POSTs (the wrapped format the Functions Framework reads):
 * the message with base64 data, both spellings of its id and publish time, its ordering key when
 * it has one, the subscription's full name, and `deliveryAttempt` where a dead-letter policy is set.
 */
export function pushBody(message: Message, subscription: string, deliveryAttempt: number | undefined) {
  const publishTime = new Date(message.publishTime.getTime()).toISOString();
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
