import type { CloudEvent } from '@google-cloud/functions-framework';
import { decodeEvent } from '../../shared/events/decode';
import { invalidFinding } from '../../shared/findings';
import { TransientError } from '../../shared/errors';
import { faultPoint } from '../../shared/fault-inject';
import type { Logger } from '../../shared/log';
import type { Clock, Publisher } from '../../shared/ports';
import { decodePush, type MessagePublishedData } from '../../shared/pubsub/push';
import { derivedId } from '../../shared/ids';
import { eventAttributes, INGEST_ID, publishFinding } from '../../shared/publish';
import { TOPICS } from '../../shared/topology';
import { dedupKeys, duplicateFinding, type Candidate, type DeduplicatorConfig } from './core';
import type { DedupStore } from './state';

export interface DeduplicatorDeps {
  readonly publisher: Publisher;
  readonly store: DedupStore;
  readonly clock: Clock;
  readonly config: DeduplicatorConfig;
  readonly logger: Logger;
}

/**
 * Forwards first arrivals to events-unique and reports dropped duplicates (and hands them on
 * to events-duplicates, for gap-detector). The claim is recorded before the publish, and nothing
 * after it: a crash in between leaves a claim that a redelivery of the same message takes over
 * once its lease has run out, so the event is never lost. A redelivery of a delivery that was
 * forwarded (a crash after the publish and before the ack, a lost ack, a validator that published
 * the same events-raw message twice) takes it over the same way and forwards it again: the same
 * event id, the same ingest id, which the fault suite and the load run count apart from a double
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
    const parsed = decodeEvent(message.data);
    if (!parsed.ok) {
      // events-valid carries only validated events: this one was published around the validator.
      deps.logger.log('ERROR', 'unparseable message on events-valid', { message_id: message.messageId, reason: parsed.reason });
      await publishFinding(deps.publisher, invalidFinding({}, parsed.reason), derivedId('invalid', message.messageId));
      return;
    }
    const { event, timeMs } = parsed;
    const candidate: Candidate = {
      event,
      timeMs,
      ingestId: message.attributes[INGEST_ID] ?? message.messageId,
      keys: dedupKeys(event),
    };
    const ctx = { now: deps.clock.now(), config: deps.config };
    const judgement = await deps.store.judgeAndClaim(candidate, ctx);
    switch (judgement.kind) {
      case 'accept':
        faultPoint('after-state-write');
        await deps.publisher.publish(TOPICS.unique, {
          data: message.data!,
          attributes: eventAttributes(event, { [INGEST_ID]: candidate.ingestId }),
        });
        faultPoint('after-publish');
        return;
      case 'duplicate':
        // Its sequence number was used all the same, and its time counts toward the watermark:
        // gap-detector reads it from here (and every accepted event from events-unique), so each
        // valid event reaches it once.
        await deps.publisher.publish(TOPICS.duplicates, { data: message.data!, attributes: eventAttributes(event, { [INGEST_ID]: candidate.ingestId }) });
        await publishFinding(
          deps.publisher,
          duplicateFinding(event, judgement.basis, judgement.duplicateOf),
          derivedId('duplicate', candidate.ingestId, event.id),
        );
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
