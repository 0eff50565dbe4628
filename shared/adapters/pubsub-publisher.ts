import type { PubSub, Topic } from '@google-cloud/pubsub';
import { faultPoint } from '../fault-inject';
import type { OutboundMessage, Publisher } from '../ports';

/** Publisher on Cloud Pub/Sub (or its emulator, through PUBSUB_EMULATOR_HOST). Topic handles are reused. */
export class PubSubPublisher implements Publisher {
  private readonly topics = new Map<string, Topic>();
  private inFlight = 0;

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
    this.inFlight++;
    try {
      return await handle.publishMessage({
        data: message.data,
        ...(message.attributes ? { attributes: message.attributes } : {}),
        ...(message.orderingKey ? { orderingKey: message.orderingKey } : {}),
      });
    } finally {
      this.inFlight--;
      // Out while others are still on their way: the middle of a batch (fault-injection suite).
      if (this.inFlight > 0) faultPoint('mid-batch');
    }
  }
}
