/** Attributes that repeat `type`, `source` and `id` of an event for filtering (DESIGN §2). */
export function eventAttributes(
  event: { type: string; source: string; id: string },
  extra: Record<string, string> = {},
): Record<string, string> {
  return { type: event.type, source: event.source, id: event.id, ...extra };
}

/**
 * The attribute naming the events-raw delivery an event came in on: the deduplicator's delivery
 * identity. The deduplicator sets it on what it publishes; dlq-triage sets it on the replay of an
 * events-raw dead letter, so that the replay (a new message id) takes over the claim of the
 * delivery that failed.
 */
export const INGEST_ID = 'ingest_id';

/** Pub/Sub's limit on attributes per message (https://cloud.google.com/pubsub/quotas#resource_limits). */
export const MAX_ATTRIBUTES = 100;

/**
 * A message's attributes plus `extra`, within Pub/Sub's 100: every extra, then as many of
 * `base` (in key order, so a redelivery keeps the same ones) as fit. Whoever republishes a
 * producer's message with attributes of its own keeps the producer's whole set in the data.
 */
export function fitAttributes(base: Readonly<Record<string, string>>, extra: Readonly<Record<string, string>>): Record<string, string> {
  const room = MAX_ATTRIBUTES - Object.keys(extra).length;
  const kept = Object.keys(base)
    .filter((k) => !Object.hasOwn(extra, k))
    .sort()
    .slice(0, Math.max(0, room));
  const out: Record<string, string> = {};
  for (const k of kept) out[k] = base[k]!;
  return { ...out, ...extra };
}
