import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { Firestore } from '@google-cloud/firestore';
import { PubSub, type Message, type Subscription } from '@google-cloud/pubsub';
import type { CloudEvent } from '@google-cloud/functions-framework';
import type { OutboundMessage, Publisher } from '../../shared/ports';
import { registerPush } from '../../shared/pubsub/push-http';
import type { DeliveryStats } from '../../tools/local/push-gateway';

/** A name prefix unique to this run and suite: topics, subscriptions and collections never collide. */
export function runPrefix(suite: string): string {
  return `t${randomBytes(3).toString('hex')}-${suite}-`;
}

/** Clients on the emulators started by the global setup. */
export function emulatorClients(): { pubsub: PubSub; firestore: Firestore } {
  if (!process.env.PUBSUB_EMULATOR_HOST || !process.env.FIRESTORE_EMULATOR_HOST) {
    throw new Error('emulator environment missing: run through jest (test/support/global-setup.ts starts them)');
  }
  return { pubsub: new PubSub(), firestore: new Firestore() };
}

/**
 * Serves a push handler the way the functions register it in production (behind the push gate
 * of shared/pubsub/push-http.ts, in the Functions Framework), on a free loopback port: push
 * subscriptions deliver to it over real HTTP.
 */
export async function serveFunction(
  name: string,
  handler: (ce: CloudEvent<unknown>) => Promise<void>,
): Promise<{ url: string; close: () => Promise<void> }> {
  registerPush(name, handler as (ce: CloudEvent<unknown>) => Promise<void>);
  return serveRegistered(name);
}

/** Serves a function already registered with the Functions Framework under `name`, on a free loopback port. */
export async function serveRegistered(name: string): Promise<{ url: string; close: () => Promise<void> }> {
  const server = getTestServer(name) as Server;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

export interface Observed {
  readonly data: string;
  readonly json: () => unknown;
  readonly attributes: Record<string, string>;
  readonly id: string;
}

/** A pull subscription that records what reaches a topic, for assertions. */
export class Observer {
  readonly messages: Observed[] = [];
  private waiters: Array<() => void> = [];

  private constructor(private readonly subscription: Subscription) {
    subscription.on('message', (m: Message) => {
      const data = m.data.toString('utf8');
      this.messages.push({ data, json: () => JSON.parse(data), attributes: { ...m.attributes }, id: m.id });
      m.ack();
      for (const w of this.waiters) w();
    });
    subscription.on('error', () => undefined);
  }

  static async on(pubsub: PubSub, topic: string, name: string): Promise<Observer> {
    const [subscription] = await pubsub.topic(topic).createSubscription(name, { ackDeadlineSeconds: 10 });
    return new Observer(subscription);
  }

  /** Resolves once `count` messages arrived (fails after `timeoutMs`). */
  async waitFor(count: number, timeoutMs = 20_000): Promise<Observed[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.messages.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected ${count} messages, got ${this.messages.length}: ${this.messages.map((m) => m.data).join('\n')}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 250));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
      this.waiters = [];
    }
    return this.messages;
  }

  /**
   * For asserting that nothing more comes, without a quiet period (a timer passes on a loaded
   * machine whether or not more is on its way): waits until `done()` says the work that
   * publishes here is over (e.g. the push gateway acked every input message: a handler
   * publishes before it answers) and every message published here by then has arrived
   * (`published()`, from a {@link CountingPublisher}). Fails after `timeoutMs`.
   */
  async complete(done: () => boolean, published: () => number, timeoutMs = 60_000): Promise<Observed[]> {
    const deadline = Date.now() + timeoutMs;
    while (!done() || this.messages.length < published()) {
      if (Date.now() > deadline) throw new Error(`not complete after ${timeoutMs} ms: done ${done()}, ${this.messages.length} of ${published()} published messages arrived`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return this.messages;
  }

  async close(): Promise<void> {
    await this.subscription.close();
    await this.subscription.delete().catch(() => undefined);
  }
}

/** A publisher that counts what it published, by topic (as the handlers name it): what an {@link Observer} waits for. */
export class CountingPublisher implements Publisher {
  private readonly counts = new Map<string, number>();
  constructor(private readonly inner: Publisher) {}

  async publish(topic: string, message: OutboundMessage): Promise<string> {
    const id = await this.inner.publish(topic, message);
    this.counts.set(topic, (this.counts.get(topic) ?? 0) + 1);
    return id;
  }

  /** How many messages were published to `topic` so far. */
  published(topic: string): number {
    return this.counts.get(topic) ?? 0;
  }
}

/** How many messages of a subscription the push gateway is done with: acked after a push, or filtered out (acked without one, as GCP does). */
export function handledCount(stats: DeliveryStats): number {
  return stats.acked.size + stats.filtered.size;
}
