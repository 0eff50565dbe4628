import * as ff from '@google-cloud/functions-framework';
import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import { z } from 'zod';
import { FailureStoreEnv, FirestoreFailureStore } from '../../shared/adapters/firestore-failures';
import { PubSubPublisher } from '../../shared/adapters/pubsub-publisher';
import { withBoundary } from '../../shared/boundary';
import { envNumber, readConfig, ResourceEnv } from '../../shared/config';
import { jsonLogger } from '../../shared/log';
import { systemClock } from '../../shared/ports';
import { topology } from '../../shared/topology';
import { triageHttp, type ApiAuth } from './api';
import { NAME } from './core';
import { FirestoreTriageStore } from './firestore-store';
import { triageHandler } from './handler';
import { TriageService } from './service';

export const Env = z
  .object({
    TRIAGE_COLLECTION_PREFIX: z.string().min(1).default('dlq-triage'),
    /** Days a closed record is kept (its Firestore TTL starts when it closes; open records never expire). */
    TRIAGE_RETENTION_DAYS: envNumber(30),
    TRIAGE_CLAIM_SECONDS: envNumber(60),
    MAX_FUTURE_MINUTES: envNumber(5),
    /**
     * `iam` in GCP (Cloud Run admits only IAM-authorised callers); `token` locally, with
     * DLQ_API_TOKEN. Default: `iam` on Cloud Run (K_SERVICE is set), `token` elsewhere.
     */
    DLQ_API_AUTH: z.enum(['iam', 'token']).optional(),
    K_SERVICE: z.string().optional(),
    DLQ_API_TOKEN: z.string().min(16, { message: 'must be at least 16 characters' }).optional(),
    GOOGLE_CLOUD_PROJECT: z.string().optional(),
    ...FailureStoreEnv,
    ...ResourceEnv,
  })
  .refine((e) => e.DLQ_API_AUTH !== 'iam' || e.K_SERVICE !== undefined, {
    message: 'DLQ_API_AUTH=iam trusts the ID token Cloud Run verified: it is only safe on Cloud Run (K_SERVICE)',
    path: ['DLQ_API_AUTH'],
  });

/** Composition root: one HTTP function serving the push subscriptions and the operator API. */
export function register(env: NodeJS.ProcessEnv = process.env): void {
  const c = readConfig(Env, env, NAME);
  const firestore = new Firestore();
  const logger = jsonLogger(undefined, { function: NAME });
  const failures = new FirestoreFailureStore(firestore, c.FAILURE_COLLECTION);
  const service = new TriageService({
    store: new FirestoreTriageStore(firestore, c.TRIAGE_COLLECTION_PREFIX),
    failures,
    publisher: new PubSubPublisher(new PubSub(), c.RESOURCE_PREFIX),
    clock: systemClock,
    logger,
    topology,
    config: {
      prefix: c.RESOURCE_PREFIX,
      retentionMs: c.TRIAGE_RETENTION_DAYS * 86_400_000,
      claimMs: c.TRIAGE_CLAIM_SECONDS * 1000,
      maxFutureMs: c.MAX_FUTURE_MINUTES * 60_000,
    },
  });
  const mode = c.DLQ_API_AUTH ?? (c.K_SERVICE ? 'iam' : 'token');
  // Without a token configured the API refuses every call (401); the push path still works.
  const auth: ApiAuth = mode === 'iam' ? { mode } : { mode, token: c.DLQ_API_TOKEN ?? '' };
  if (mode === 'token' && !c.DLQ_API_TOKEN) logger.log('WARNING', `${NAME}: no DLQ_API_TOKEN: the operator API refuses every request`);
  const push = withBoundary(NAME, triageHandler(service, c.RESOURCE_PREFIX), {
    failures,
    logger,
    clock: systemClock,
    prefix: c.RESOURCE_PREFIX,
    retentionMs: c.FAILURE_RETENTION_DAYS * 86_400_000,
    ...(c.GOOGLE_CLOUD_PROJECT ? { project: c.GOOGLE_CLOUD_PROJECT } : {}),
  });
  ff.http(NAME, triageHttp({ service, auth, logger, push }));
}
