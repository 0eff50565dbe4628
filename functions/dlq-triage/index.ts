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
import { MAX_BODY_BYTES, triageHttp } from './api';
import { GOOGLE_CERTS_URL, GoogleIdTokenVerifier, type AuthConfig } from './auth';
import { gateBodies } from './body';
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
     * How the operator API is authenticated: `iam` in GCP (a verified ID token of an operator
     * member); `token` locally, with DLQ_API_TOKEN. Default: `iam` on Cloud Run (K_SERVICE is
     * set), `token` elsewhere. The push path takes the push identity's ID token in both.
     */
    DLQ_API_AUTH: z.enum(['iam', 'token']).optional(),
    K_SERVICE: z.string().optional(),
    DLQ_API_TOKEN: z.string().min(16, { message: 'must be at least 16 characters' }).optional(),
    /** The IAM members allowed the operator API in `iam` mode (Terraform's operator_members), comma-separated. */
    DLQ_OPERATORS: z.string().default(''),
    /** The push identity: the service account whose OIDC token Pub/Sub attaches to every push. */
    DLQ_PUSH_SERVICE_ACCOUNT: z.email().optional(),
    /** Where the ID tokens' signing certificates are read: Google's, or a local stack's issuer. */
    DLQ_AUTH_CERTS_URL: z.url().default(GOOGLE_CERTS_URL),
    /** Audiences accepted beside the URL a request was sent to, comma-separated. */
    DLQ_AUTH_AUDIENCES: z.string().default(''),
    DLQ_MAX_BODY_BYTES: envNumber(MAX_BODY_BYTES),
    /** The entry point this process serves (set by Cloud Run functions and the local stack). */
    FUNCTION_TARGET: z.string().optional(),
    GOOGLE_CLOUD_PROJECT: z.string().optional(),
    ...FailureStoreEnv,
    ...ResourceEnv,
  });

const list = (v: string) => v.split(',').map((s) => s.trim()).filter((s) => s !== '');

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
  // Without a token (or operators) configured the API refuses every call; without a push
  // identity, the push path does.
  const auth: AuthConfig = {
    operators: mode === 'iam' ? { mode, members: list(c.DLQ_OPERATORS) } : { mode, token: c.DLQ_API_TOKEN ?? '' },
    ...(c.DLQ_PUSH_SERVICE_ACCOUNT ? { pushServiceAccount: c.DLQ_PUSH_SERVICE_ACCOUNT } : {}),
    audiences: list(c.DLQ_AUTH_AUDIENCES),
    verifier: new GoogleIdTokenVerifier(c.DLQ_AUTH_CERTS_URL),
  };
  if (mode === 'token' && !c.DLQ_API_TOKEN) logger.log('WARNING', `${NAME}: no DLQ_API_TOKEN: the operator API refuses every request`);
  if (mode === 'iam' && list(c.DLQ_OPERATORS).length === 0) logger.log('WARNING', `${NAME}: no DLQ_OPERATORS: the operator API refuses every request`);
  if (!c.DLQ_PUSH_SERVICE_ACCOUNT) logger.log('WARNING', `${NAME}: no DLQ_PUSH_SERVICE_ACCOUNT: the push path refuses every push`);
  // Served alone (Cloud Run functions and the local stack set FUNCTION_TARGET), every request's
  // body waits for authorization (body.ts).
  if (c.FUNCTION_TARGET === NAME) gateBodies('process');
  const push = withBoundary(NAME, triageHandler(service, c.RESOURCE_PREFIX), {
    failures,
    logger,
    clock: systemClock,
    prefix: c.RESOURCE_PREFIX,
    retentionMs: c.FAILURE_RETENTION_DAYS * 86_400_000,
    ...(c.GOOGLE_CLOUD_PROJECT ? { project: c.GOOGLE_CLOUD_PROJECT } : {}),
  });
  ff.http(NAME, triageHttp({ service, auth, logger, push, maxBodyBytes: c.DLQ_MAX_BODY_BYTES }));
}
