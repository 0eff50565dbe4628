import type { OutboundMessage, Publisher } from '../ports';

export interface PublishedMessage extends OutboundMessage {
  readonly topic: string;
  readonly id: string;
}

/** In-memory publisher for tests and embedded runs: keeps every message, in order. */
export class MemoryPublisher implements Publisher {
  readonly messages: PublishedMessage[] = [];

  async publish(topic: string, message: OutboundMessage): Promise<string> {
    const id = String(this.messages.length + 1);
    this.messages.push({ ...message, topic, id });
    return id;
  }

  /** The messages of one topic with their data decoded as JSON. */
  json(topic: string): unknown[] {
    return this.messages.filter((m) => m.topic === topic).map((m) => JSON.parse(m.data.toString('utf8')));
  }
}
