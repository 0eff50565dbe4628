import { createHash } from 'node:crypto';

/**
 * What Pub/Sub adds to a dead-lettered copy (DESIGN §5, §8): where it came from, never why, and no
 * original message id. The failure key below is computed from what the copy still carries.
 */
export const DEAD_LETTER_ATTRIBUTES = {
  subscription: 'CloudPubSubDeadLetterSourceSubscription',
  subscriptionProject: 'CloudPubSubDeadLetterSourceSubscriptionProject',
  deliveryCount: 'CloudPubSubDeadLetterSourceDeliveryCount',
  topicPublishTime: 'CloudPubSubDeadLetterSourceTopicPublishTime',
  deliveryErrorMessage: 'CloudPubSubDeadLetterSourceDeliveryErrorMessage',
} as const;
const DEAD_LETTER_PREFIX = 'CloudPubSubDeadLetterSource';

/**
 * Attribute naming the one subscription a triage replay is meant for (DESIGN §5): every other
 * consumer of the topic acks it unread (the shared boundary does, in one place), and in GCP a
 * subscription filter can exclude it too. The value is the subscription's manifest name.
 */
export const TARGET_SUBSCRIPTION = 'target_subscription';

/**
 * Attribute naming the triage record a replay came from. Every publish of one replay carries the
 * same value, so the target subscription's boundary handles one of them (a publish that outlived
 * its claim, or whose answer was lost, is published again by the next replay).
 */
export const REPLAY_OF = 'replay_of';

/** The attributes the producer set: everything except what Pub/Sub's dead-lettering added. */
export function producerAttributes(attributes: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(attributes).sort()) {
    if (!key.startsWith(DEAD_LETTER_PREFIX)) out[key] = attributes[key]!;
  }
  return out;
}

/**
 * The key of a failure record: the subscription's manifest name plus a digest of the payload and
 * the producer's attributes. The failing function computes it from the delivery, triage computes
 * it again from the dead-lettered copy; both see the same bytes and attributes.
 */
export function failureKey(subscription: string, data: Buffer | string, attributes: Readonly<Record<string, string>>): string {
  const hash = createHash('sha256');
  hash.update(subscription).update('\0');
  hash.update(typeof data === 'string' ? Buffer.from(data, 'base64') : data).update('\0');
  hash.update(JSON.stringify(producerAttributes(attributes)));
  return `${subscription}:${hash.digest('base64url').slice(0, 32)}`;
}

/** `projects/P/subscriptions/S` (or just `S`) → `S` without the stack's resource prefix. */
export function subscriptionName(pathOrName: string, prefix = ''): string {
  const last = pathOrName.slice(pathOrName.lastIndexOf('/') + 1);
  return prefix && last.startsWith(prefix) ? last.slice(prefix.length) : last;
}

/**
 * The manifest subscription that delivers `topic` to `fn`. The Functions Framework drops the push
 * body's `subscription` field, so a CloudEvent function knows only its topic; the manifest makes
 * the pair unique (checked at load by shared/topology.ts).
 */
export function subscriptionOf(topology: SubscriptionManifest, fn: string, topic: string | undefined): string | undefined {
  if (topic === undefined) return undefined;
  return topology.subscriptions.find((s) => s.push?.function === fn && s.topic === topic)?.name;
}

/** The topic producers publish to (TOPICS.raw: pure code does not load the manifest module). */
const RAW_TOPIC = 'events-raw';

/**
 * The push subscription that reads what producers publish: the deduplicator's, which validates
 * each event first. Fixed invalid events are replayed to it; the local stack needs its function.
 */
export function ingestSubscription(topology: SubscriptionManifest): { name: string; topic: string; fn: string } {
  const s = topology.subscriptions.find((x) => x.topic === RAW_TOPIC && x.push);
  if (!s?.push) throw new Error(`the manifest has no push subscription on ${RAW_TOPIC}`);
  return { name: s.name, topic: s.topic, fn: s.push.function };
}

/** What pure code reads of the manifest (shared/topology.ts): its subscriptions. */
export interface SubscriptionManifest {
  readonly subscriptions: ReadonlyArray<{ readonly name: string; readonly topic: string; readonly push?: { readonly function: string } | undefined; readonly replaces?: readonly string[] | undefined }>;
}
