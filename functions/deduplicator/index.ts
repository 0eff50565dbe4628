import { registerPush } from '../../shared/pubsub/push-http';
import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import { z } from 'zod';
import { PubSubPublisher } from '../../shared/adapters/pubsub-publisher';
import { bigtableInstance } from '../../shared/adapters/bigtable';
import { envNumber, readConfig, ResourceEnv, StateStoreEnv } from '../../shared/config';
import { cloudBoundary } from '../../shared/boundary-cloud';
import { jsonLogger } from '../../shared/log';
import { systemClock } from '../../shared/ports';
import { BigtableDedupStore, DEDUP_TABLE } from './bigtable-state';
import { DEFAULT_DEDUP_CONFIG, NAME } from './core';
import { FirestoreDedupStore } from './firestore-state';
import { deduplicatorHandler } from './handler';

export const Env = z.object({
  /** How far ahead of the function's clock an event's `time` may be before it is invalid (DESIGN §2). */
  MAX_FUTURE_MINUTES: envNumber(5),
  DEDUP_WINDOW_HOURS: envNumber(DEFAULT_DEDUP_CONFIG.windowMs / 3_600_000),
  DEDUP_LEASE_SECONDS: envNumber(DEFAULT_DEDUP_CONFIG.leaseMs / 1000),
  DEDUP_COLLECTION: z.string().min(1).default('dedup-keys'),
  /** The Bigtable table of the keys when STATE_STORE=bigtable (Terraform creates it from the manifest). */
  DEDUP_TABLE: z.string().regex(/^[a-zA-Z0-9_.-]{1,50}$/, { message: 'must be 1-50 characters of a-z, A-Z, 0-9, _, . and -' }).default(DEDUP_TABLE.table),
  ...StateStoreEnv,
  ...ResourceEnv,
});

/** Composition root: reads the configuration and builds the clients once, at cold start. */
export function register(env: NodeJS.ProcessEnv = process.env): void {
  const config = readConfig(Env, env, NAME);
  registerPush(
    NAME,
    cloudBoundary(NAME, env, deduplicatorHandler({
      publisher: new PubSubPublisher(new PubSub(), config.RESOURCE_PREFIX),
      store:
        config.STATE_STORE === 'bigtable'
          ? new BigtableDedupStore(bigtableInstance(config.BIGTABLE_INSTANCE), config.DEDUP_TABLE)
          : new FirestoreDedupStore(new Firestore(), config.DEDUP_COLLECTION),
      clock: systemClock,
      config: { windowMs: config.DEDUP_WINDOW_HOURS * 3_600_000, leaseMs: config.DEDUP_LEASE_SECONDS * 1000 },
      validation: { maxFutureMs: config.MAX_FUTURE_MINUTES * 60_000 },
      logger: jsonLogger(undefined, { function: NAME }),
    })),
  );
}
