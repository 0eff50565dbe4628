import type { CloudEvent } from '@google-cloud/functions-framework';
import { derivedId } from '../ids';

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
  /** Attribute names whose values were not strings (left out of `attributes`): no Pub/Sub push has one. */
  readonly nonStringAttributes: readonly string[];
  /** The decoded payload; `undefined` when the data was not valid base64. */
  readonly data: Buffer | undefined;
  /** The payload as it came, for records of what could not be decoded. */
  readonly rawData: string;
}

/**
 * What a push handler receives. The Functions Framework makes a `messagePublished` CloudEvent of
 * a push only when `message.data` is truthy (`isRawPubSubRequestBody` in its pubsub_middleware);
 * an attributes-only message (GCP leaves `data` out, the emulator sends `""`) is handed over as
 * the raw push body itself.
 */
export type PushInput = CloudEvent<MessagePublishedData> | RawPushBody;

/** The body a push subscription POSTs (the wrapped format). */
export interface RawPushBody {
  message?: MessagePublishedData['message'];
  subscription?: string;
}

/** Decodes a push; never throws on a bad payload (that is validation's finding, in the deduplicator). */
export function decodePush(input: PushInput): InboundMessage {
  const ce = input as Partial<CloudEvent<MessagePublishedData>> & RawPushBody;
  const wrapped = isObject(ce.data) && isObject(ce.data.message);
  const message = (wrapped ? ce.data!.message : isObject(ce.message) ? ce.message : undefined) ?? {};
  const rawData = typeof message.data === 'string' ? message.data : '';
  const data = isBase64(rawData) ? Buffer.from(rawData, 'base64') : undefined;
  const given: Record<string, unknown> = isObject(message.attributes) ? message.attributes : {};
  const attributes: Record<string, string> = {};
  const nonStringAttributes: string[] = [];
  for (const [k, v] of Object.entries(given)) {
    if (typeof v === 'string') attributes[k] = v;
    else nonStringAttributes.push(k);
  }
  const subscription = wrapped ? ce.data!.subscription : ce.subscription;
  return {
    messageId:
      nonEmpty(message.messageId) ??
      nonEmpty(message.message_id) ??
      (wrapped ? nonEmpty(ce.id) : undefined) ??
      // Pub/Sub always sends one; a hand-made push without it still gets an id that a
      // redelivery of the same message computes again, never one derived from `undefined`.
      derivedId('push', String(subscription ?? ''), rawData, JSON.stringify(Object.entries(attributes).sort())),
    topic: wrapped ? topicOf(ce.source) : undefined,
    publishTime: nonEmpty(message.publishTime) ?? (wrapped ? ce.time : undefined),
    attributes,
    nonStringAttributes,
    data,
    rawData,
  };
}

function isObject(v: unknown): v is Record<string, never> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function nonEmpty(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/**
 * Standard base64 with padding, as Pub/Sub sends it. A loop, not a regular expression: a
 * repeated-group pattern overflows the regex stack on data over about 4 MB (Pub/Sub allows 10 MB).
 */
export function isBase64(s: string): boolean {
  const n = s.length;
  if (n % 4 !== 0) return false;
  let end = n;
  if (end > 0 && s.charCodeAt(end - 1) === 61 /* = */) end--;
  if (end > 0 && end === n - 1 && s.charCodeAt(end - 1) === 61) end--;
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 47;
    if (!ok) return false;
  }
  return true;
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
