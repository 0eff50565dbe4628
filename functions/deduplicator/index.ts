import { registerPush } from '../../shared/pubsub/push-http';
import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import { z } from 'zod';
import { PubSubPublisher } from '../../shared/adapters/pubsub-publisher';
import { envNumber, readConfig, ResourceEnv } from '../../shared/config';
import { cloudBoundary } from '../../shared/boundary-cloud';
import { jsonLogger } from '../../shared/log';
import { systemClock } from '../../shared/ports';
import { DEFAULT_DEDUP_CONFIG, NAME } from './core';
import { FirestoreDedupStore } from './firestore-state';
import { deduplicatorHandler } from './handler';

export const Env = z.object({
  DEDUP_WINDOW_HOURS: envNumber(DEFAULT_DEDUP_CONFIG.windowMs / 3_600_000),
  DEDUP_LEASE_SECONDS: envNumber(DEFAULT_DEDUP_CONFIG.leaseMs / 1000),
  DEDUP_COLLECTION: z.string().min(1).default('dedup-keys'),
  ...ResourceEnv,
});

/** Composition root: reads the configuration and builds the clients once, at cold start. */
export function register(env: NodeJS.ProcessEnv = process.env): void {
  const config = readConfig(Env, env, NAME);
  registerPush(
    NAME,
    cloudBoundary(NAME, env, deduplicatorHandler({
      publisher: new PubSubPublisher(new PubSub(), config.RESOURCE_PREFIX),
      store: new FirestoreDedupStore(new Firestore(), config.DEDUP_COLLECTION),
      clock: systemClock,
      config: { windowMs: config.DEDUP_WINDOW_HOURS * 3_600_000, leaseMs: config.DEDUP_LEASE_SECONDS * 1000 },
      logger: jsonLogger(undefined, { function: NAME }),
    })),
  );
}
