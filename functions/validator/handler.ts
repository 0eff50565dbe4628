import type { CloudEvent } from '@google-cloud/functions-framework';
import { fitAttributes } from '../../shared/attributes';
import { faultPoint } from '../../shared/fault-inject';
import type { Logger } from '../../shared/log';
import type { Clock, Publisher } from '../../shared/ports';
import { decodePush, type MessagePublishedData } from '../../shared/pubsub/push';
import { derivedId } from '../../shared/ids';
import { eventAttributes, INGEST_ID, publishFinding } from '../../shared/publish';
import { TOPICS } from '../../shared/topology';
import { validate, type ValidatorConfig } from './core';

export interface ValidatorDeps {
  readonly publisher: Publisher;
  readonly clock: Clock;
  readonly config: ValidatorConfig;
  readonly logger: Logger;
}

/**
 * Routes each raw event: valid ones to events-valid (the original bytes), invalid ones to
 * events-invalid with their errors plus an `invalid` finding. Either way the message is acked;
 * only a failed publish throws, so Pub/Sub redelivers.
 */
export function validatorHandler(deps: ValidatorDeps) {
  return async (ce: CloudEvent<MessagePublishedData>): Promise<void> => {
    const message = decodePush(ce);
    const decision = validate(message.data, { now: deps.clock.now(), config: deps.config }, message.nonStringAttributes);
    if (decision.kind === 'valid') {
      await deps.publisher.publish(TOPICS.valid, {
        data: message.data!,
        attributes: eventAttributes(decision.event, { [INGEST_ID]: message.messageId }),
      });
      faultPoint('after-publish');
      return;
    }
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
    // In this order: a failed route publishes no finding, so its redelivery does not repeat one
    // (and both carry ids derived from the message id, which a redelivery keeps).
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
  };
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
