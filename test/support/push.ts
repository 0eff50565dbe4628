import type { CloudEvent } from '@google-cloud/functions-framework';
import { pushBody, type MessagePublishedData } from '../../shared/pubsub/push';

/** A message on `topic` as a push subscription hands it to a function through the Functions Framework. */
export function pushedEvent(topic: string, data: string, messageId: string, attributes: Record<string, string> = {}): CloudEvent<MessagePublishedData> {
  return {
    specversion: '1.0',
    id: messageId,
    type: 'google.cloud.pubsub.topic.v1.messagePublished',
    source: `//pubsub.googleapis.com/projects/demo/topics/${topic}`,
    data: pushBody(data, attributes, messageId),
  };
}
