import type { OutboundMessage, Publisher } from '../ports';

export interface PublishedMessage extends OutboundMessage {
  readonly topic: string;
  readonly id: string;
}

/** In-memory publisher for tests and embedded runs: keeps every message, in order. */
export class MemoryPublisher implements Publisher {
  readonly messages: PublishedMessage[] = [];

  async publish(topic: string, message: OutboundMessage): Promise<string> {
    checkLikePubSub(message);
    const id = String(this.messages.length + 1);
    this.messages.push({ ...message, topic, id });
    return id;
  }

  /** The messages of one topic with their data decoded as JSON. */
  json(topic: string): unknown[] {
    return this.messages.filter((m) => m.topic === topic).map((m) => JSON.parse(m.data.toString('utf8')));
  }
}

/**
 * Rejects what `@google-cloud/pubsub`'s `publishMessage` rejects, with its messages, so a test on
 * this publisher fails where the real one would (an `undefined` attribute throws there).
 */
function checkLikePubSub(message: OutboundMessage): void {
  const attributes: Record<string, unknown> = message.attributes ?? {};
  const keys = Object.keys(attributes);
  if (!message.data && keys.length === 0) throw new TypeError('If data is undefined, at least one attribute must be present.');
  for (const key of keys) {
    if (typeof attributes[key] !== 'string') {
      throw new TypeError(`All attributes must be in the form of a string.\n\nInvalid value of type "${typeof attributes[key]}" provided for "${key}".`);
    }
  }
}
