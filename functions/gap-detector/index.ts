import { registerPush } from '../../shared/pubsub/push-http';
import { randomUUID } from 'node:crypto';
import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import { z } from 'zod';
import { bigtableInstance } from '../../shared/adapters/bigtable';
import { PubSubPublisher } from '../../shared/adapters/pubsub-publisher';
import { envNumber, readConfig, ResourceEnv, StateStoreEnv } from '../../shared/config';
import { cloudBoundary } from '../../shared/boundary-cloud';
import { jsonLogger } from '../../shared/log';
import { systemClock } from '../../shared/ports';
import { topology } from '../../shared/topology';
import { BigtableChainLog, CHAIN_FAMILY } from './bigtable-chains';
import { BigtableMarkerLog, MARKER_FAMILY } from './bigtable-markers';
import { DEFAULT_GAP_RULES, NAME } from './core';
import { FirestoreEarlierChains, FirestoreGapStore } from './firestore-store';
import { DEFAULT_GAP_DETECTOR_CONFIG, gapDetectorHandler } from './handler';
import { DEFAULT_GAP_STATE_CONFIG } from './store';

const MINUTE = 60_000;
const minutes = (ms: number) => envNumber(ms / MINUTE);
const wholeMs = (ms: number) => z.coerce.number().int().nonnegative().default(ms);
/** The tables as the manifest names them (Terraform and the local stack create them from there), by their column family. */
const tableOf = (family: string) => topology.functions.find((f) => f.name === NAME)?.bigtable?.find((t) => t.families.includes(family))?.table;
const TableName = z.string().regex(/^[a-zA-Z0-9_][-_.a-zA-Z0-9]{0,49}$/);

export const Env = z.object({
  GAP_GRACE_MINUTES: minutes(DEFAULT_GAP_RULES.graceMs),
  CHAIN_CARD_TO_LEAD_MINUTES: minutes(DEFAULT_GAP_RULES.chainDeadlinesMs['card.scanned']),
  CHAIN_LEAD_TO_CRM_MINUTES: minutes(DEFAULT_GAP_RULES.chainDeadlinesMs['lead.created']),
  CHAIN_CRM_TO_FOLLOWUP_MINUTES: minutes(DEFAULT_GAP_RULES.chainDeadlinesMs['crm.synced']),
  /** Beyond this distance from the numbers seen, a sequence number is a reset or a bad number (one finding). */
  GAP_MAX_SEQUENCE_JUMP: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER).default(DEFAULT_GAP_RULES.maxSequenceJump),
  /** How far behind the wall clock a tick lets the watermark trail. */
  ALLOWED_LATENESS_MINUTES: z.coerce.number().nonnegative().default(DEFAULT_GAP_STATE_CONFIG.allowedLatenessMs / MINUTE),
  /** Republish the upstream event of a broken chain to events-retrigger. */
  RETRIGGER_BROKEN_CHAINS: z.stringbool().default(DEFAULT_GAP_STATE_CONFIG.republish),
  GAP_STATE_RETENTION_HOURS: envNumber(DEFAULT_GAP_STATE_CONFIG.retentionMs / 3_600_000),
  GAP_MAX_RANGES_PER_SOURCE: z.coerce.number().int().min(10).max(10_000).default(DEFAULT_GAP_STATE_CONFIG.maxRangesPerSource),
  GAP_FOLD_INTERVAL_MS: wholeMs(DEFAULT_GAP_DETECTOR_CONFIG.foldIntervalMs),
  GAP_WATERMARK_STEP_MS: wholeMs(DEFAULT_GAP_DETECTOR_CONFIG.watermarkStepMs),
  /** How old an outbox message left by a crash must be before a tick publishes it (the local stack shortens it, as it does the backoff). */
  GAP_OUTBOX_GRACE_SECONDS: z.coerce.number().positive().default(DEFAULT_GAP_DETECTOR_CONFIG.outboxGraceMs / 1000),
  GAP_COLLECTION_PREFIX: z.string().min(1).default('gap-detector'),
  /** `STATE_STORE=bigtable`: the sequence markers in this Bigtable table of BIGTABLE_INSTANCE, and the chains in GAP_CHAINS_TABLE; the rest of the state stays in Firestore. */
  GAP_MARKERS_TABLE: TableName.default(tableOf(MARKER_FAMILY) ?? 'gap-markers'),
  GAP_CHAINS_TABLE: TableName.default(tableOf(CHAIN_FAMILY) ?? 'gap-chains'),
  /**
   * After upgrading a deployment whose chains were in Firestore (`<prefix>-chains`) to STATE_STORE=bigtable
   * with chains in Bigtable: read those documents through until none is left (README, gap-detector).
   */
  GAP_CHAINS_FROM_FIRESTORE: z.stringbool().default(false),
  ...StateStoreEnv,
  ...ResourceEnv,
});

/** Composition root: reads the configuration and builds the clients once, at cold start. */
export function register(env: NodeJS.ProcessEnv = process.env): void {
  const c = readConfig(Env, env, NAME);
  const instanceId = randomUUID();
  const bigtable = c.STATE_STORE === 'bigtable' ? bigtableInstance(c.BIGTABLE_INSTANCE) : undefined;
  const firestore = new Firestore();
  registerPush(
    NAME,
    cloudBoundary(NAME, env, gapDetectorHandler({
      publisher: new PubSubPublisher(new PubSub(), c.RESOURCE_PREFIX),
      store:
        bigtable === undefined
          ? new FirestoreGapStore(firestore, c.GAP_COLLECTION_PREFIX)
          : new FirestoreGapStore(
              firestore,
              c.GAP_COLLECTION_PREFIX,
              new BigtableMarkerLog(bigtable.table(c.GAP_MARKERS_TABLE)),
              new BigtableChainLog(bigtable.table(c.GAP_CHAINS_TABLE), c.GAP_CHAINS_FROM_FIRESTORE ? new FirestoreEarlierChains(firestore, c.GAP_COLLECTION_PREFIX) : undefined),
            ),
      clock: systemClock,
      config: {
        state: {
          rules: {
            graceMs: c.GAP_GRACE_MINUTES * MINUTE,
            chainDeadlinesMs: {
              'card.scanned': c.CHAIN_CARD_TO_LEAD_MINUTES * MINUTE,
              'lead.created': c.CHAIN_LEAD_TO_CRM_MINUTES * MINUTE,
              'crm.synced': c.CHAIN_CRM_TO_FOLLOWUP_MINUTES * MINUTE,
            },
            maxSequenceJump: c.GAP_MAX_SEQUENCE_JUMP,
          },
          allowedLatenessMs: c.ALLOWED_LATENESS_MINUTES * MINUTE,
          retentionMs: c.GAP_STATE_RETENTION_HOURS * 3_600_000,
          maxRangesPerSource: c.GAP_MAX_RANGES_PER_SOURCE,
          republish: c.RETRIGGER_BROKEN_CHAINS,
        },
        foldIntervalMs: c.GAP_FOLD_INTERVAL_MS,
        watermarkStepMs: c.GAP_WATERMARK_STEP_MS,
        resourcePrefix: c.RESOURCE_PREFIX,
        outboxGraceMs: c.GAP_OUTBOX_GRACE_SECONDS * 1000,
      },
      logger: jsonLogger(undefined, { function: NAME, instance: instanceId }),
      instanceId,
    })),
  );
}
