import type { CloudEvent } from '@google-cloud/functions-framework';
import { fitAttributes } from '../../shared/attributes';
import { REPLAY_OF } from '../../shared/dead-letters';
import { TransientError } from '../../shared/errors';
import { faultPoint } from '../../shared/fault-inject';
import type { Logger } from '../../shared/log';
import type { Clock, Publisher } from '../../shared/ports';
import { decodePush, type InboundMessage, type MessagePublishedData } from '../../shared/pubsub/push';
import { derivedId } from '../../shared/ids';
import { eventAttributes, INGEST_ID, publishFinding } from '../../shared/publish';
import { TOPICS } from '../../shared/topology';
import { dedupKeys, duplicateFinding, type Candidate, type DeduplicatorConfig } from './core';
import type { DedupStore } from './state';
import { validate, type ValidationConfig, type ValidationDecision } from './core-validation';

export interface DeduplicatorDeps {
  readonly publisher: Publisher;
  readonly store: DedupStore;
  readonly clock: Clock;
  readonly config: DeduplicatorConfig;
  readonly validation: ValidationConfig;
  readonly logger: Logger;
}

/**
 * Reads events-raw. Each event is validated first (its own pure core, ./core-validation.ts): an invalid
 * one goes to events-invalid with its errors, plus an `invalid` finding, and is acked. A valid one
 * is deduplicated: first arrivals go on to events-unique; dropped duplicates are reported (and
 * handed on to events-duplicates, for gap-detector).
 *
 * Validation and deduplication were two functions joined by an events-valid topic that had no
 * other subscriber; each hop cost every event a request and an instance's busy time (about $1 a
 * million, issue 21). One function runs both cores now, as a streaming engine fuses two stages.
 *
 * The claim is recorded before the publish, and nothing after it: a crash in between leaves a
 * claim that a redelivery of the same message takes over once its lease has run out, so the event
 * is never lost. A redelivery of a delivery that was forwarded (a crash after the publish and
 * before the ack, a lost ack) takes it over the same way and forwards it again: the same event id,
 * the same ingest id, which the fault suite and the load run count apart from a double
 * (tools/load/compare.ts). That costs a redelivery one more publish instead of costing every event
 * a third document write (a "forwarded" mark, 0.98 writes an event, until issue 21), and changes
 * nothing downstream: every consumer of events-unique keys on the event id (gap-detector's
 * sequence markers and chain slots, the checkers' outcome ledger, the archive's view counts
 * DISTINCT ids; test/integration/gap-detector.test.ts, checkers.test.ts, crm-checker.test.ts).
 * Pub/Sub delivers at least once in any case: push and export subscriptions have no exactly-once
 * delivery (https://cloud.google.com/pubsub/docs/exactly-once-delivery).
 */
export function deduplicatorHandler(deps: DeduplicatorDeps) {
  return async (ce: CloudEvent<MessagePublishedData>): Promise<void> => {
    const message = decodePush(ce);
    const now = deps.clock.now();
    const decision = validate(message.data, { now, config: deps.validation }, message.nonStringAttributes);
    if (decision.kind === 'invalid') {
      await routeInvalid(deps, message, decision);
      return;
    }
    const { event, timeMs } = decision;
    const ingestId = ingestIdOf(message);
    const candidate: Candidate = { event, timeMs, ingestId, keys: dedupKeys(event, decision.canonicalTime) };
    const judgement = await deps.store.judgeAndClaim(candidate, { now, config: deps.config });
    const attributes = eventAttributes(event, { [INGEST_ID]: ingestId });
    switch (judgement.kind) {
      case 'accept':
        faultPoint('after-state-write');
        await deps.publisher.publish(TOPICS.unique, { data: message.data!, attributes });
        faultPoint('after-publish');
        return;
      case 'duplicate':
        // Its sequence number was used all the same, and its time counts toward the watermark:
        // gap-detector reads it from here (and every accepted event from events-unique), so each
        // valid event reaches it once.
        await deps.publisher.publish(TOPICS.duplicates, { data: message.data!, attributes });
        await publishFinding(deps.publisher, duplicateFinding(event, judgement.basis, judgement.duplicateOf), derivedId('duplicate', ingestId, event.id));
        return;
      case 'in_flight':
        throw new TransientError('another delivery of this message holds the claim', 'IN_FLIGHT', {
          eventId: event.id,
          messageId: message.messageId,
        });
      default: {
        const never: never = judgement;
        throw new Error(`unhandled judgement ${JSON.stringify(never)}`);
      }
    }
  };
}

/**
 * The delivery an event's claim belongs to: the events-raw message id, which every redelivery
 * keeps. A dead letter replayed by dlq-triage is a new message: it carries the failed delivery's
 * message id as `ingest_id` (functions/dlq-triage/core.ts, replayMessage), so it takes over that
 * delivery's claim instead of being judged a duplicate of it. Only a replay is trusted with one: a
 * producer's own `ingest_id` attribute is not read.
 */
function ingestIdOf(message: InboundMessage): string {
  const carried = message.attributes[INGEST_ID];
  return carried && message.attributes[REPLAY_OF] ? carried : message.messageId;
}

/**
 * An invalid event: to events-invalid with its errors and the raw message, then an `invalid`
 * finding. In this order: a failed route publishes no finding, so its redelivery does not repeat
 * one (and both carry ids derived from the message id, which a redelivery keeps).
 */
async function routeInvalid(deps: DeduplicatorDeps, message: InboundMessage, decision: Extract<ValidationDecision, { kind: 'invalid' }>): Promise<void> {
  const record = {
    reason: decision.finding.reason,
    errors: decision.errors,
    message: {
      message_id: message.messageId,
      publish_time: message.publishTime,
      attributes: message.attributes,
      ...recordedData(message.rawData),
    },
  };
  await deps.publisher.publish(TOPICS.invalid, {
    data: Buffer.from(JSON.stringify(record)),
    // Within Pub/Sub's 100 attributes: a producer's message at the limit is routed too; the
    // record's data keeps all of its attributes.
    attributes: fitAttributes(message.attributes, { [INGEST_ID]: message.messageId, reason: 'invalid' }),
  });
  await publishFinding(deps.publisher, decision.finding, derivedId('invalid', message.messageId));
  faultPoint('after-publish');
  deps.logger.log('NOTICE', 'invalid event routed to events-invalid', {
    message_id: message.messageId,
    event_id: decision.identity.id,
    reason: decision.finding.reason,
  });
}

/**
 * Base64 of up to 7.5 MB of data fits a Pub/Sub message (10 MB) with the rest of the record; a
 * larger payload (Pub/Sub carries 10 MB, 13.3 MB as base64) is kept in part, or its publish
 * would fail on every redelivery until the message dead-letters.
 */
const MAX_RECORDED_BASE64 = 7.5 * 1024 * 1024;

function recordedData(rawData: string): { data: string } | { data: string; data_bytes: number; data_truncated: true } {
  if (rawData.length <= MAX_RECORDED_BASE64) return { data: rawData };
  return { data: rawData.slice(0, MAX_RECORDED_BASE64), data_bytes: Buffer.byteLength(rawData, 'base64'), data_truncated: true };
}
