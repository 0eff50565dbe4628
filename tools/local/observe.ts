import { randomBytes } from 'node:crypto';
import type { Message, PubSub, Subscription } from '@google-cloud/pubsub';

/** A message seen on a topic of the stack. */
export interface Seen {
  readonly topic: string;
  readonly id: string;
  readonly data: Buffer;
  readonly attributes: Readonly<Record<string, string>>;
  readonly receivedAt: number;
}

/**
 * Watches every topic of the running stack through pull subscriptions of its own (a runner
 * concern, not topology: created at run time under a unique name, deleted on close). Counts
 * what flows where, keeps every message, and knows when the last one arrived.
 */
export class TopicObserver {
  private readonly seen = new Map<string, Seen[]>();
  private readonly ids = new Set<string>();
  private readonly listeners = new Set<(m: Seen) => void>();
  private last = Date.now();

  private constructor(private readonly subscriptions: readonly Subscription[]) {}

  static async start(pubsub: PubSub, topics: readonly string[]): Promise<TopicObserver> {
    const run = randomBytes(3).toString('hex');
    const subscriptions = await Promise.all(
      topics.map(async (topic) => {
        const [created] = await pubsub.topic(topic).createSubscription(`observe-${topic}-${run}`, { ackDeadlineSeconds: 30 });
        // One stream, not the client's default five: each open stream keeps the emulator busy
        // (idle, 15 subscriptions with 5 streams each took it 85 ms of CPU a second, with 1 stream 18 ms).
        return pubsub.subscription(created.name, { streamingOptions: { maxStreams: 1 } });
      }),
    );
    const observer = new TopicObserver(subscriptions);
    subscriptions.forEach((subscription, i) => {
      const topic = topics[i]!;
      observer.seen.set(topic, []);
      subscription.on('message', (m: Message) => {
        m.ack();
        observer.record({ topic, id: m.id, data: m.data, attributes: { ...m.attributes }, receivedAt: Date.now() });
      });
      subscription.on('error', () => undefined);
    });
    return observer;
  }

  private record(message: Seen): void {
    this.last = message.receivedAt;
    // An observer subscription may redeliver (a lost ack): count each message once.
    const key = `${message.topic}\u0000${message.id}`;
    if (this.ids.has(key)) return;
    this.ids.add(key);
    this.seen.get(message.topic)!.push(message);
    for (const listener of this.listeners) listener(message);
  }

  /** Every message seen on `topic`, in arrival order. */
  messages(topic: string): readonly Seen[] {
    return this.seen.get(topic) ?? [];
  }

  counts(): Record<string, number> {
    return Object.fromEntries([...this.seen].map(([topic, list]) => [topic, list.length]));
  }

  /** When the last message arrived on any topic (epoch ms). */
  lastMessageAt(): number {
    return this.last;
  }

  onMessage(listener: (m: Seen) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    await Promise.all(
      this.subscriptions.map(async (s) => {
        await s.close().catch(() => undefined);
        await s.delete().catch(() => undefined);
      }),
    );
  }
}
