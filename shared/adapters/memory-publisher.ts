import { MAX_ATTRIBUTES } from '../attributes';
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

const MAX_MESSAGE_BYTES = 10 * 1024 * 1024;

/**
 * Rejects what `@google-cloud/pubsub`'s `publishMessage` rejects, with its messages, so a test on
 * this publisher fails where the real one would (an `undefined` attribute throws there).
 */
function checkLikePubSub(message: OutboundMessage): void {
  const attributes: Record<string, unknown> = message.attributes ?? {};
  const keys = Object.keys(attributes);
  if (!message.data && keys.length === 0) throw new TypeError('If data is undefined, at least one attribute must be present.');
  // Pub/Sub refuses a message over 10 MB (data, attributes and their keys): INVALID_ARGUMENT.
  const size = (message.data?.length ?? 0) + keys.reduce((n, k) => n + Buffer.byteLength(k) + Buffer.byteLength(String(attributes[k])), 0);
  if (size > MAX_MESSAGE_BYTES) throw new Error(`3 INVALID_ARGUMENT: Request payload size exceeds the limit: ${MAX_MESSAGE_BYTES} bytes.`);
  // And one with more than 100 attributes (https://cloud.google.com/pubsub/quotas#resource_limits).
  if (keys.length > MAX_ATTRIBUTES) throw new Error(`3 INVALID_ARGUMENT: a message may carry at most ${MAX_ATTRIBUTES} attributes, not ${keys.length}.`);
  for (const key of keys) {
    if (typeof attributes[key] !== 'string') {
      throw new TypeError(`All attributes must be in the form of a string.\n\nInvalid value of type "${typeof attributes[key]}" provided for "${key}".`);
    }
  }
}
