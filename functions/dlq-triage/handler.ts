import type { CloudEvent } from '@google-cloud/functions-framework';
import type { MessagePublishedData } from '../../shared/pubsub/push';
import { topicOf } from '../../shared/pubsub/push';
import type { Inbound } from './core';
import type { TriageService } from './service';

/**
 * The consumer: one triage record per message of dlq-triage's subscriptions (dead-letters,
 * events-invalid, findings held for review). Registered through the shared error boundary like
 * every other function's handler.
 */
export function triageHandler(service: TriageService, prefix: string) {
  return async (ce: CloudEvent<MessagePublishedData>): Promise<void> => {
    const full = topicOf(ce.source) ?? '';
    const topic = prefix && full.startsWith(prefix) ? full.slice(prefix.length) : full;
    await service.receive(topic, inboundOf(ce.data, ce.id, ce.time));
  };
}

/** The message of a push body as dlq-triage reads it. */
export function inboundOf(data: MessagePublishedData | undefined, fallbackId: string, fallbackTime?: string): Inbound {
  const m = data?.message ?? {};
  return {
    messageId: m.messageId ?? m.message_id ?? fallbackId,
    publishTime: m.publishTime ?? fallbackTime,
    data: m.data ?? '',
    attributes: m.attributes ?? {},
  };
}
