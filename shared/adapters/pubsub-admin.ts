import { status } from '@grpc/grpc-js';
import type { PubSub } from '@google-cloud/pubsub';
import { resolveSubscriptions, type ResolvedSubscription, type Topology } from '../topology';

export interface EnsureOptions {
  /** Prepended to every topic and subscription name, so runs and suites never collide. */
  readonly prefix?: string;
  /** Only these subscriptions (by manifest name); default: every push and pull subscription. */
  readonly only?: (subscription: ResolvedSubscription) => boolean;
}

/**
 * Creates every topic and subscription of the manifest on the Pub/Sub emulator that does not
 * exist yet: the one place that turns the manifest into local subscriptions. Dead-letter policy,
 * ack deadline, retention and filter as the manifest says; BigQuery subscriptions are GCP-only
 * (the emulator has no BigQuery) and are left to Terraform, as are push endpoints and retry
 * policies. Locally a push subscription is created as a pull subscription without its retry
 * policy, and tools/local/push-gateway delivers it as GCP's push would, pacing redeliveries by
 * the manifest's retry policy: the emulator's own push loses messages on a subscription with a
 * retry policy (DESIGN §8). Idempotent.
 */
export async function ensureTopology(pubsub: PubSub, topology: Topology, options: EnsureOptions = {}): Promise<ResolvedSubscription[]> {
  const prefix = options.prefix ?? '';
  await pubsub.getClientConfig(); // resolves the project id
  const project = pubsub.projectId;
  await Promise.all(topology.topics.map((t) => ignoreExists(pubsub.createTopic(prefix + t.name))));
  const subscriptions = resolveSubscriptions(topology).filter((s) => s.delivery !== 'bigquery' && (options.only?.(s) ?? true));
  await Promise.all(
    subscriptions.map((s) => {
      return ignoreExists(
        pubsub.topic(prefix + s.topic).createSubscription(prefix + s.name, {
          ackDeadlineSeconds: s.ackDeadlineSeconds,
          messageRetentionDuration: { seconds: s.messageRetentionSeconds },
          ...(s.deadLetterTopic
            ? {
                deadLetterPolicy: {
                  deadLetterTopic: `projects/${project}/topics/${prefix}${s.deadLetterTopic}`,
                  maxDeliveryAttempts: s.maxDeliveryAttempts,
                },
              }
            : {}),
          ...(s.filter ? { filter: s.filter } : {}),
        }),
      );
    }),
  );
  return subscriptions;
}

async function ignoreExists(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if ((err as { code?: number }).code !== status.ALREADY_EXISTS) throw err;
  }
}
