import type { CloudEvent } from '@google-cloud/functions-framework';
import { failureKey, REPLAY_OF, subscriptionOf, TARGET_SUBSCRIPTION } from './dead-letters';
import { isTransient } from './errors';
import type { FailureReport, FailureStore } from './failures';
import type { Logger } from './log';
import { maskText, maskValue } from './mask';
import type { Clock } from './ports';
import { topicOf, type MessagePublishedData } from './pubsub/push';
import { topology as projectTopology, type Topology } from './topology';

export interface BoundaryDeps {
  readonly failures: FailureStore;
  readonly logger: Logger;
  readonly clock: Clock;
  /** RESOURCE_PREFIX: stripped from the topic a push came from, to find the manifest subscription. */
  readonly prefix?: string;
  /** The project, for Cloud Logging's trace field. */
  readonly project?: string;
  /** How long an undead-lettered failure is kept (default 30 days). */
  readonly retentionMs?: number;
  /** The longest the boundary waits for the failure store before answering non-2xx anyway. */
  readonly recordTimeoutMs?: number;
  readonly topology?: Topology;
}

type Handler = (ce: CloudEvent<MessagePublishedData>) => Promise<void>;

/**
 * The error boundary every Pub/Sub-triggered function registers its handler through (DESIGN §5):
 *
 * - a replay that triage aimed at another subscription of the same topic is acked unread, and of
 *   the messages of one replay (`replay_of`) aimed at this one, only the first is handled;
 * - a thrown error is logged once, structured (severity ERROR, function, message and event id,
 *   error class, code, context, cause, trace), and recorded under the failure key triage computes
 *   again from the dead-lettered copy; then the original error is rethrown, so the Functions
 *   Framework answers 500 and Pub/Sub redelivers. A failure store that fails or hangs is logged
 *   and never turns that into an ack: recording must not lose a message.
 */
export function withBoundary(fn: string, handler: Handler, deps: BoundaryDeps): Handler {
  const topo = deps.topology ?? projectTopology;
  const prefix = deps.prefix ?? '';
  return async (ce) => {
    const message = ce.data?.message ?? {};
    const attributes = message.attributes ?? {};
    const topicName = topicOf(ce.source);
    const topic = topicName !== undefined && prefix && topicName.startsWith(prefix) ? topicName.slice(prefix.length) : topicName;
    const subscription = subscriptionOf(topo, fn, topic) ?? `${fn}:${topic ?? 'unknown-topic'}`;
    const target = attributes[TARGET_SUBSCRIPTION];
    if (target !== undefined && target !== subscription) return;
    const messageId = message.messageId ?? message.message_id ?? ce.id;
    const retentionMs = deps.retentionMs ?? 30 * 86_400_000;
    try {
      const replayOf = attributes[REPLAY_OF];
      if (target !== undefined && replayOf !== undefined && !(await deps.failures.admitReplay(`${subscription}:${replayOf}`, messageId, deps.clock.now() + retentionMs))) {
        deps.logger.log('NOTICE', `${fn}: a second publish of replay ${replayOf}: acked unread`, { function: fn, subscription, message_id: messageId, replay_of: replayOf });
        return;
      }
      await handler(ce);
    } catch (err) {
      const report = failureReport(fn, subscription, messageId, attributes, message.data ?? '', err, deps.clock.now());
      deps.logger.log('ERROR', `${fn}: ${report.error_class}${report.code ? ` ${report.code}` : ''}: ${report.message}`, {
        function: fn,
        subscription,
        message_id: messageId,
        ...(report.event_id ? { event_id: report.event_id } : {}),
        error_class: report.error_class,
        failure_class: report.class,
        ...(report.code ? { code: report.code } : {}),
        ...(report.context ? { context: report.context } : {}),
        ...(report.cause ? { cause: report.cause } : {}),
        failure_key: report.key,
        ...traceFields(ce, deps.project),
      });
      try {
        await withTimeout(deps.failures.record(report, deps.clock.now() + retentionMs), deps.recordTimeoutMs ?? 5_000);
      } catch (recordErr) {
        deps.logger.log('ERROR', `${fn}: the failure could not be recorded for triage (the message is still redelivered)`, {
          function: fn,
          message_id: messageId,
          failure_key: report.key,
          cause: describeCause(recordErr),
        });
      }
      throw err;
    }
  };
}

/** What the boundary records about one thrown error. Pure: exported for tests and triage. */
export function failureReport(
  fn: string,
  subscription: string,
  messageId: string,
  attributes: Readonly<Record<string, string>>,
  data: string,
  err: unknown,
  now: number,
): FailureReport {
  const e = err instanceof Error ? err : undefined;
  const code = (e as { code?: unknown } | undefined)?.code;
  const context = (e as { context?: unknown } | undefined)?.context;
  const contextRecord =
    context !== null && typeof context === 'object' && Object.keys(context).length > 0 ? (maskValue(context) as Record<string, unknown>) : undefined;
  const eventId = attributes.id ?? (typeof (context as { eventId?: unknown })?.eventId === 'string' ? (context as { eventId: string }).eventId : undefined);
  const cause = e?.cause !== undefined ? describeCause(e.cause) : undefined;
  return {
    key: failureKey(subscription, data, attributes),
    function: fn,
    subscription,
    message_id: messageId,
    ...(eventId !== undefined ? { event_id: eventId } : {}),
    class: isTransient(err) ? 'transient' : 'poison',
    error_class: e ? e.name || e.constructor.name : typeof err,
    ...(typeof code === 'string' || typeof code === 'number' ? { code: String(code) } : {}),
    message: maskText(e ? e.message : String(err)),
    ...(contextRecord ? { context: contextRecord } : {}),
    ...(cause !== undefined ? { cause } : {}),
    at: new Date(now).toISOString(),
  };
}

function describeCause(cause: unknown): string {
  if (cause instanceof Error) return maskText(`${cause.name}: ${cause.message}`);
  return maskText(String(cause));
}

/** Cloud Logging's trace field from the W3C `traceparent` the Functions Framework copies onto the CloudEvent. */
function traceFields(ce: CloudEvent<unknown>, project: string | undefined): Record<string, string> {
  const traceparent = (ce as { traceparent?: unknown }).traceparent;
  const m = typeof traceparent === 'string' ? /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-/.exec(traceparent) : null;
  if (!m || !project) return {};
  return { 'logging.googleapis.com/trace': `projects/${project}/traces/${m[1]}`, 'logging.googleapis.com/spanId': m[2]! };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
