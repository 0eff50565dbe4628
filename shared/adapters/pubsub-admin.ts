import { status } from '@grpc/grpc-js';
import type { PubSub } from '@google-cloud/pubsub';
import { resolveSubscriptions, type ResolvedSubscription, type Topology } from '../topology';

export interface EnsureOptions {
  /** Prepended to every topic and subscription name, so runs and suites never collide. */
  readonly prefix?: string;
  /** The push endpoint base URL of a function (e.g. http://127.0.0.1:8081); the topic path is appended. */
  readonly pushEndpoint?: (functionName: string) => string | undefined;
  /** Only these subscriptions (by manifest name); default: every push and pull subscription. */
  readonly only?: (subscription: ResolvedSubscription) => boolean;
}

/**
 * Creates every topic and subscription of the manifest that does not exist yet: dead-letter
 * policy, retry policy, filter and push endpoint as the manifest says. BigQuery subscriptions are
 * GCP-only (the emulator has no BigQuery) and are left to Terraform. Idempotent.
 */
export async function ensureTopology(pubsub: PubSub, topology: Topology, options: EnsureOptions = {}): Promise<ResolvedSubscription[]> {
  const prefix = options.prefix ?? '';
  await pubsub.getClientConfig(); // resolves the project id
  const project = pubsub.projectId;
  await Promise.all(topology.topics.map((t) => ignoreExists(pubsub.createTopic(prefix + t.name))));
  const subscriptions = resolveSubscriptions(topology).filter((s) => s.delivery !== 'bigquery' && (options.only?.(s) ?? true));
  await Promise.all(
    subscriptions.map((s) => {
      const topic = prefix + s.topic;
      const endpoint = s.function ? options.pushEndpoint?.(s.function) : undefined;
      return ignoreExists(
        pubsub.topic(topic).createSubscription(prefix + s.name, {
          ackDeadlineSeconds: s.ackDeadlineSeconds,
          messageRetentionDuration: { seconds: s.messageRetentionSeconds },
          retryPolicy: {
            minimumBackoff: { seconds: s.retryPolicy.minimumBackoffSeconds },
            maximumBackoff: { seconds: s.retryPolicy.maximumBackoffSeconds },
          },
          ...(s.deadLetterTopic
            ? {
                deadLetterPolicy: {
                  deadLetterTopic: `projects/${project}/topics/${prefix}${s.deadLetterTopic}`,
                  maxDeliveryAttempts: s.maxDeliveryAttempts,
                },
              }
            : {}),
          ...(s.filter ? { filter: s.filter } : {}),
          // The path makes the Functions Framework's CloudEvent name the topic as its source.
          ...(endpoint ? { pushConfig: { pushEndpoint: `${endpoint}/projects/${project}/topics/${topic}` } } : {}),
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
