import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import * as ff from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { Firestore } from '@google-cloud/firestore';
import { PubSub, type Message, type Subscription } from '@google-cloud/pubsub';
import type { CloudEvent } from '@google-cloud/functions-framework';

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
 * Serves a CloudEvent function the way the Functions Framework serves it in production, on a
 * free loopback port: push subscriptions deliver to it over real HTTP.
 */
export async function serveFunction(
  name: string,
  handler: (ce: CloudEvent<unknown>) => Promise<void>,
): Promise<{ url: string; close: () => Promise<void> }> {
  ff.cloudEvent(name, handler as (ce: CloudEvent<unknown>) => Promise<void>);
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

  /** Waits until no message arrived for `quietMs`: for asserting that nothing more comes. */
  async settle(quietMs = 1500): Promise<Observed[]> {
    let seen = -1;
    while (seen !== this.messages.length) {
      seen = this.messages.length;
      await new Promise((r) => setTimeout(r, quietMs));
    }
    return this.messages;
  }

  async close(): Promise<void> {
    await this.subscription.close();
    await this.subscription.delete().catch(() => undefined);
  }
}
