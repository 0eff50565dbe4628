import type { CloudEvent } from '@google-cloud/functions-framework';
import { Firestore } from '@google-cloud/firestore';
import { z } from 'zod';
import { FailureStoreEnv, FirestoreFailureStore } from './adapters/firestore-failures';
import { withBoundary } from './boundary';
import { readConfig, ResourceEnv } from './config';
import { jsonLogger } from './log';
import { systemClock } from './ports';
import type { MessagePublishedData } from './pubsub/push';

export const BoundaryEnv = z.object({
  ...FailureStoreEnv,
  ...ResourceEnv,
  GOOGLE_CLOUD_PROJECT: z.string().optional(),
});

/**
 * The error boundary of a deployed function (shared/boundary.ts), with failures recorded in
 * Firestore: what each function's composition root wraps its handler in.
 */
export function cloudBoundary(
  name: string,
  env: NodeJS.ProcessEnv,
  handler: (ce: CloudEvent<MessagePublishedData>) => Promise<void>,
): (ce: CloudEvent<MessagePublishedData>) => Promise<void> {
  const config = readConfig(BoundaryEnv, env, name);
  return withBoundary(name, handler, {
    failures: new FirestoreFailureStore(new Firestore(), config.FAILURE_COLLECTION),
    logger: jsonLogger(undefined, { function: name }),
    clock: systemClock,
    prefix: config.RESOURCE_PREFIX,
    retentionMs: config.FAILURE_RETENTION_DAYS * 86_400_000,
    ...(config.GOOGLE_CLOUD_PROJECT ? { project: config.GOOGLE_CLOUD_PROJECT } : {}),
  });
}
