import type { PubSub, Topic } from '@google-cloud/pubsub';

/**
 * Publishing as a producer does (DESIGN §2): the event's JSON as the message data, unchanged (a
 * broken line too: rejecting it is validation's job, in the deduplicator), with `type`, `source` and `id` repeated
 * as attributes for subscription filters. Used by `event-recovery publish` and the local stack.
 */

/** Pub/Sub caps an attribute value at 1024 bytes. */
const MAX_ATTRIBUTE_BYTES = 1024;

/** The attributes a producer sets beside the event, as far as they can be read; none for a payload that is not JSON. */
export function producerAttributes(text: string): Record<string, string> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return {};
  }
  const attributes: Record<string, string> = {};
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const key of ['type', 'source', 'id'] as const) {
      const v = (value as Record<string, unknown>)[key];
      if (typeof v === 'string' && v.length > 0 && Buffer.byteLength(v) <= MAX_ATTRIBUTE_BYTES) attributes[key] = v;
    }
  }
  return attributes;
}

/** Publishes one payload as a producer does; resolves with the message id. */
export function publishPayload(topic: Topic, text: string): Promise<string> {
  return topic.publishMessage({ data: Buffer.from(text), attributes: producerAttributes(text) });
}

/** Batching of a producer's topic handle: up to 500 messages a request (and the client's 1 MiB), held at most 5 ms. */
export const PRODUCER_BATCHING = { maxMessages: 500, maxMilliseconds: 5 } as const;

/** A topic handle that batches as {@link PRODUCER_BATCHING} says. */
export function producerTopic(pubsub: PubSub, name: string): Topic {
  return pubsub.topic(name, { batching: PRODUCER_BATCHING });
}
