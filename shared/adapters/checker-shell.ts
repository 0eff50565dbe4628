import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import { z } from 'zod';
import type { CheckerShellDeps } from '../checker';
import { envNumber, ResourceEnv, StateStoreEnv } from '../config';
import { jsonLogger } from '../log';
import { systemClock } from '../ports';
import { bigtableInstance } from './bigtable';
import { BigtableOutcomeLedger } from './bigtable-ledger';
import { FirestoreOutcomeLedger } from './firestore-ledger';
import { PubSubPublisher } from './pubsub-publisher';

/** The environment of the shell in GCP: where decisions are kept, and for how long. */
export const LedgerEnv = z.object({
  LEDGER_COLLECTION: z.string().min(1).default('checker-outcomes'),
  LEDGER_RETENTION_DAYS: envNumber(30),
  /** The ledger's Bigtable table when STATE_STORE is bigtable (shared/topology.json). */
  LEDGER_TABLE: z.string().min(1).default('checker-outcomes'),
  ...StateStoreEnv,
  ...ResourceEnv,
});
export type LedgerEnv = z.infer<typeof LedgerEnv>;

/** The shell of a checker deployed as a Cloud Function: Pub/Sub, the ledger (Firestore or Bigtable, by STATE_STORE), the system clock. */
export function cloudShell(name: string, env: LedgerEnv): CheckerShellDeps {
  return {
    publisher: new PubSubPublisher(new PubSub(), env.RESOURCE_PREFIX),
    ledger:
      env.STATE_STORE === 'bigtable'
        ? new BigtableOutcomeLedger(bigtableInstance(env.BIGTABLE_INSTANCE), env.LEDGER_TABLE)
        : new FirestoreOutcomeLedger(new Firestore(), env.LEDGER_COLLECTION),
    clock: systemClock,
    logger: jsonLogger(undefined, { function: name }),
    retentionMs: env.LEDGER_RETENTION_DAYS * 86_400_000,
  };
}
