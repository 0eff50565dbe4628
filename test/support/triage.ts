/**
 * Fixture builders of the dlq-triage tests (unit, contract, integration): the service on its
 * ports, the HTTP function served in-process, and the messages it receives.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as ff from '@google-cloud/functions-framework';
import type { CloudEvent } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { MemoryFailureStore } from '../../shared/adapters/memory-failures';
import { MemoryPublisher, type PublishedMessage } from '../../shared/adapters/memory-publisher';
import { withBoundary } from '../../shared/boundary';
import { DEAD_LETTER_ATTRIBUTES } from '../../shared/dead-letters';
import type { FailureStore } from '../../shared/failures';
import { silentLogger } from '../../shared/log';
import type { Clock } from '../../shared/ports';
import type { MessagePublishedData } from '../../shared/pubsub/push';
import { topology, TOPICS } from '../../shared/topology';
import { triageHttp } from '../../functions/dlq-triage/api';
import { GoogleIdTokenVerifier, type AuthConfig } from '../../functions/dlq-triage/auth';
import { gateBodies } from '../../functions/dlq-triage/body';
import { LocalIdTokenIssuer, pushTokens } from '../../tools/local/id-tokens';
import type { Inbound, Stats } from '../../functions/dlq-triage/core';
import { triageHandler } from '../../functions/dlq-triage/handler';
import { TriageService, type TriageDeps } from '../../functions/dlq-triage/service';
import { MemoryTriageStore } from '../../functions/dlq-triage/store';
import { cardScanned, saleRecorded } from './events';

export const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64');

/** The service's settings in tests: 30 days' retention, one-minute claims, validation's five minutes. */
export const TRIAGE_CONFIG: TriageDeps['config'] = { prefix: '', retentionMs: 30 * 86_400_000, claimMs: 60_000, maxFutureMs: 300_000 };

/** A TriageService on in-memory ports unless given others. */
export function triageService(deps: Partial<Omit<TriageDeps, 'config'>> & { config?: Partial<TriageDeps['config']> } = {}) {
  const store = deps.store ?? new MemoryTriageStore();
  const failures = deps.failures ?? new MemoryFailureStore();
  const publisher = deps.publisher ?? new MemoryPublisher();
  const clock = deps.clock ?? { now: () => Date.now() };
  const service = new TriageService({
    store,
    failures,
    publisher,
    clock,
    logger: deps.logger ?? silentLogger,
    topology: deps.topology ?? topology,
    config: { ...TRIAGE_CONFIG, ...deps.config },
    ...(deps.sleep ? { sleep: deps.sleep } : {}),
  });
  return { service, store, failures, publisher, clock };
}

/**
 * dlq-triage's HTTP function served in-process on a loopback port, as `index.ts` registers it: the
 * push path through the shared boundary behind the push identity's ID token (signed by a loopback
 * issuer, verified by google-auth-library against its certificate endpoint), the operator API
 * behind a bearer token (or, with `operators`, IAM mode), every body read only after authorization.
 */
export async function serveTriage(
  name: string,
  service: TriageService,
  options: { token: string; failures: FailureStore; clock?: Clock; prefix?: string; operators?: readonly string[]; audiences?: readonly string[]; maxBodyBytes?: number },
): Promise<{ url: string; server: Server; issuer: LocalIdTokenIssuer; pushAuthorization: string; close: () => Promise<void> }> {
  const clock = options.clock ?? { now: () => Date.now() };
  const prefix = options.prefix ?? '';
  const issuer = await LocalIdTokenIssuer.start();
  const push = withBoundary('dlq-triage', triageHandler(service, prefix), { failures: options.failures, logger: silentLogger, clock, prefix });
  const auth: AuthConfig = {
    operators: options.operators ? { mode: 'iam', members: options.operators } : { mode: 'token', token: options.token },
    pushServiceAccount: LocalIdTokenIssuer.PUSH_ACCOUNT,
    audiences: options.audiences ?? [],
    verifier: new GoogleIdTokenVerifier(issuer.certsUrl),
  };
  ff.http(name, triageHttp({ service, auth, logger: silentLogger, push, ...(options.maxBodyBytes ? { maxBodyBytes: options.maxBodyBytes } : {}) }));
  const server = getTestServer(name) as Server;
  gateBodies(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    server,
    issuer,
    pushAuthorization: pushTokens(issuer)('dlq-triage', url),
    close: async () => {
      await new Promise<void>((r) => server.close(() => r()));
      await issuer.close();
    },
  };
}

/** A published message as its subscriber's CloudEvent (what the Functions Framework makes of the push). */
export function delivered(m: PublishedMessage): CloudEvent<MessagePublishedData> {
  return {
    id: m.id,
    specversion: '1.0',
    type: 'google.cloud.pubsub.topic.v1.messagePublished',
    source: `//pubsub.googleapis.com/projects/demo/topics/${m.topic}`,
    data: { message: { data: m.data.toString('base64'), attributes: m.attributes ?? {}, messageId: m.id } },
  } as CloudEvent<MessagePublishedData>;
}

/** What Pub/Sub adds to a copy it dead-letters from `subscription` (a path or a name). */
export function deadLetterAttributes(subscription: string, count = '5'): Record<string, string> {
  const path = subscription.includes('/') ? subscription : `projects/demo/subscriptions/${subscription}`;
  return { [DEAD_LETTER_ATTRIBUTES.subscription]: path, [DEAD_LETTER_ATTRIBUTES.deliveryCount]: count };
}

let seq = 0;

/** A dead-lettered copy of `event` as dlq-triage receives it (message ids and publish times in order). */
export function deadLetter(
  subscription: string,
  event: unknown,
  attributes: Record<string, string> = {},
  options: { count?: string; at?: number; sourcePublishTime?: string } = {},
): Inbound {
  seq += 1;
  return {
    messageId: `dl-${seq}`,
    publishTime: new Date((options.at ?? Date.parse('2026-03-01T12:00:00Z')) + seq).toISOString(),
    data: b64(event),
    attributes: {
      ...attributes,
      ...deadLetterAttributes(subscription, options.count),
      ...(options.sourcePublishTime ? { [DEAD_LETTER_ATTRIBUTES.topicPublishTime]: options.sourcePublishTime } : {}),
    },
  };
}

/** The deduplicator's events-invalid record of a raw message. */
export function invalidMessage(rawEvent: unknown, rawId = 'raw-1', at = Date.parse('2026-03-01T12:00:00Z')): Inbound {
  seq += 1;
  const record = { reason: 'data.amount: is required', errors: [{ path: 'data.amount', message: 'is required' }], message: { message_id: rawId, publish_time: new Date(at).toISOString(), attributes: {}, data: b64(rawEvent) } };
  return { messageId: `inv-${seq}`, publishTime: new Date(at + seq).toISOString(), data: b64(record), attributes: { reason: 'invalid', ingest_id: rawId } };
}

/**
 * Records of every kind stats count (classes, states, known and unknown subscriptions and types),
 * stored through `service`, and the stats they make: the memory store and Firestore are held to
 * the same answers.
 */
export async function seedStatsFixture(service: TriageService, tag: string): Promise<{ all: Stats; open: Stats }> {
  const ids: string[] = [];
  const receive = async (topic: string, m: Inbound) => ids.push((await service.receive(topic, m))!.id);
  for (let i = 0; i < 3; i++) await receive(TOPICS.deadLetters, deadLetter('gap-detector-chains', cardScanned({ id: `${tag}-c${i}` })));
  await receive(TOPICS.deadLetters, deadLetter('revenue-checker-sales', saleRecorded({ id: `${tag}-s0` })));
  await receive(TOPICS.deadLetters, deadLetter('not-in-the-manifest', saleRecorded({ id: `${tag}-s1` })));
  await receive(TOPICS.deadLetters, deadLetter('gap-detector-chains', { ...cardScanned({ id: `${tag}-x0` }), type: 'not.in.the.catalog' }));
  await receive(TOPICS.deadLetters, deadLetter('gap-detector-chains', 'not json'));
  await receive(TOPICS.invalid, invalidMessage({ ...saleRecorded({ id: `${tag}-i0` }), data: {} }, `${tag}-raw-0`));
  const review = { kind: 'payment_mismatch', action: 'review', event_id: `${tag}-s0`, type: 'sale.recorded', field: 'amount', expected: 1, actual: 2, reason: 'refunded' };
  await receive(TOPICS.findings, { messageId: `${tag}-f0`, publishTime: '2026-03-01T12:00:00.000Z', data: b64(review), attributes: { action: 'review', finding_id: `${tag}-fid` } });
  await service.discard(ids[1]!, 'test traffic', 'fixture');
  await service.replay(ids[2]!, 'fixture');
  const all: Stats = {
    total: 9,
    by_class: { transient: 7, invalid: 1, review: 1 },
    by_state: { open: 7, discarded: 1, replayed: 1 },
    by_subscription: { 'gap-detector-chains': 5, 'revenue-checker-sales': 1, 'deduplicator-events-raw': 1, '(none)': 1, '(other)': 1 },
    by_type: { 'card.scanned': 3, 'sale.recorded': 4, '(other)': 1, '(unknown)': 1 },
  };
  const open: Stats = {
    total: 7,
    by_class: { transient: 5, invalid: 1, review: 1 },
    by_state: { open: 7 },
    by_subscription: { 'gap-detector-chains': 3, 'revenue-checker-sales': 1, 'deduplicator-events-raw': 1, '(none)': 1, '(other)': 1 },
    by_type: { 'card.scanned': 1, 'sale.recorded': 4, '(other)': 1, '(unknown)': 1 },
  };
  return { all, open };
}
