import type { CloudEvent } from '@google-cloud/functions-framework';
import { decodeEvent } from './events/decode';
import type { EventType } from './events/catalog';
import type { BusinessEvent } from './events/envelope';
import { faultPoint } from './fault-inject';
import type { Logger } from './log';
import { hasEffects, parseOutcome, type Outcome } from './outcome';
import type { Clock, OutcomeLedger, Publisher } from './ports';
import { decodePush, type MessagePublishedData } from './pubsub/push';
import { derivedId } from './ids';
import { publishFinding, publishOutcome } from './publish';

/** The shell dependencies every incorrect-event checker shares. */
export interface CheckerShellDeps {
  readonly publisher: Publisher;
  readonly ledger: OutcomeLedger;
  readonly clock: Clock;
  readonly logger: Logger;
  /** How long a decision is kept (the ledger's TTL): longer than any redelivery or triage replay. */
  readonly retentionMs: number;
}

export type EventOf<T extends EventType> = Extract<BusinessEvent, { type: T }>;

/** Looks up what the rule needs and applies the pure core; throws only for transient faults. */
export type Decide<T extends EventType> = (event: EventOf<T>, timeMs: number, now: number) => Promise<Outcome>;

/**
 * An effect of a recorded decision outside Pub/Sub (e.g. a repair written back to a CRM): run
 * before the outcome is published, and again on a redelivery until it is, so it must be
 * idempotent (the same write of the same values).
 */
export type Apply<T extends EventType> = (event: EventOf<T>, outcome: Outcome) => Promise<void>;

function isOfType<T extends EventType>(event: BusinessEvent, type: T): event is EventOf<T> {
  return event.type === type;
}

/**
 * The handler of a checker on events-unique (DESIGN §1, §3): acks event types it does not own
 * (the emulator does not enforce subscription filters), and decides each owned event once. The
 * first decision goes to the outcome ledger with `create()`; a redelivery, a replay or a
 * concurrent delivery reads it back and publishes that same decision (same finding ids, same
 * correction id), never a new one. A crash between the decision and its publishing is healed
 * by the redelivery: the entry stays unpublished until every message is out.
 */
export function checkerHandler<T extends EventType>(rule: string, type: T, deps: CheckerShellDeps, decide: Decide<T>, apply?: Apply<T>) {
  return async (ce: CloudEvent<MessagePublishedData>): Promise<void> => {
    const message = decodePush(ce);
    const declared = message.attributes.type;
    if (declared !== undefined && declared !== type) return;
    const parsed = decodeEvent(message.data);
    if (!parsed.ok) {
      if (declared !== type) return; // not ours to report (nor to read)
      deps.logger.log('ERROR', `unparseable ${type} message on events-unique`, { message_id: message.messageId, reason: parsed.reason });
      await publishFinding(deps.publisher, { kind: 'invalid', action: 'dropped', type, reason: parsed.reason }, derivedId('invalid', message.messageId));
      return;
    }
    const { event, timeMs } = parsed;
    if (!isOfType(event, type)) return;

    let entry = await deps.ledger.get(rule, event.id);
    if (!entry) {
      const now = deps.clock.now();
      // Recorded as read back: the delivery that decides publishes the very bytes a later
      // delivery reads from the ledger (and a decision that could not be read back fails here).
      const recorded = parseOutcome(JSON.stringify(await decide(event, timeMs, now)));
      if (!recorded.ok) throw new Error(`${rule} decided an outcome about ${event.id} that it cannot record: ${recorded.reason}`);
      const { outcome } = recorded;
      entry = await deps.ledger.record(rule, event.id, { outcome, published: !hasEffects(outcome) }, Math.max(now, timeMs) + deps.retentionMs);
      faultPoint('after-state-write');
    }
    if (entry.published) return;
    if (apply) await apply(event, entry.outcome);
    await publishOutcome(deps.publisher, rule, entry.outcome);
    faultPoint('after-publish');
    await deps.ledger.markPublished(rule, event.id);
    const { findings, correction } = entry.outcome;
    deps.logger.log(findings.some((f) => f.action === 'review') ? 'WARNING' : 'NOTICE', `${type} ${event.id}: ${findings.map((f) => `${f.kind} (${f.action})`).join(', ')}`, {
      event_id: event.id,
      message_id: message.messageId,
      ...(correction ? { correction_id: correction.id } : {}),
    });
  };
}
