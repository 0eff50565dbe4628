import type { CloudEvent } from '@google-cloud/functions-framework';

/**
 * The `data` of the CloudEvent the Functions Framework makes from a Pub/Sub push
 * (`google.cloud.pubsub.topic.v1.messagePublished`): the message with base64 data.
 */
export interface MessagePublishedData {
  message?: {
    data?: string;
    attributes?: Record<string, string>;
    messageId?: string;
    message_id?: string;
    publishTime?: string;
    orderingKey?: string;
  };
  subscription?: string;
}

/** A Pub/Sub message as the handlers see it. */
export interface InboundMessage {
  readonly messageId: string;
  /** The topic the message was published to, from the CloudEvent source. */
  readonly topic: string | undefined;
  readonly publishTime: string | undefined;
  readonly attributes: Record<string, string>;
  /** The decoded payload; `undefined` when the data was not valid base64. */
  readonly data: Buffer | undefined;
  /** The payload as it came, for records of what could not be decoded. */
  readonly rawData: string;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes a push CloudEvent; never throws on a bad payload (that is the validator's finding). */
export function decodePush(ce: CloudEvent<MessagePublishedData>): InboundMessage {
  const message = ce.data?.message ?? {};
  const rawData = typeof message.data === 'string' ? message.data : '';
  const data = BASE64.test(rawData) ? Buffer.from(rawData, 'base64') : undefined;
  return {
    messageId: message.messageId ?? message.message_id ?? ce.id,
    topic: topicOf(ce.source),
    publishTime: message.publishTime ?? ce.time,
    attributes: message.attributes ?? {},
    data,
    rawData,
  };
}

/** `//pubsub.googleapis.com/projects/P/topics/T` → `T`. */
export function topicOf(source: string | undefined): string | undefined {
  const m = /\/topics\/([^/?]+)$/.exec(source ?? '');
  return m ? m[1] : undefined;
}

/** The raw body a push subscription sends: what the emulator and GCP POST to the endpoint. */
export function pushBody(
  data: Buffer | string,
  attributes: Record<string, string> = {},
  messageId = '1',
  subscription = 'projects/demo/subscriptions/test',
) {
  return {
    message: {
      data: Buffer.isBuffer(data) ? data.toString('base64') : Buffer.from(data).toString('base64'),
      attributes,
      messageId,
      message_id: messageId,
      publishTime: new Date(0).toISOString(),
    },
    subscription,
  };
}
