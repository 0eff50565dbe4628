import type { PubSub, Topic } from '@google-cloud/pubsub';
import type { OutboundMessage, Publisher } from '../ports';

/** Publisher on Cloud Pub/Sub (or its emulator, through PUBSUB_EMULATOR_HOST). Topic handles are reused. */
export class PubSubPublisher implements Publisher {
  private readonly topics = new Map<string, Topic>();

  /** `prefix` is prepended to topic names (see RESOURCE_PREFIX), so several stacks share a project. */
  constructor(
    private readonly pubsub: PubSub,
    private readonly prefix = '',
  ) {}

  async publish(topic: string, message: OutboundMessage): Promise<string> {
    let handle = this.topics.get(topic);
    if (!handle) {
      handle = this.pubsub.topic(this.prefix + topic, { batching: { maxMilliseconds: 5, maxMessages: 500 } });
      this.topics.set(topic, handle);
    }
    return handle.publishMessage({
      data: message.data,
      ...(message.attributes ? { attributes: message.attributes } : {}),
      ...(message.orderingKey ? { orderingKey: message.orderingKey } : {}),
    });
  }
}
