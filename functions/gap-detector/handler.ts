import type { CloudEvent } from '@google-cloud/functions-framework';
import { decodeEvent } from '../../shared/events/decode';
import type { BusinessEvent } from '../../shared/events/envelope';
import { TransientError } from '../../shared/errors';
import { faultPoint } from '../../shared/fault-inject';
import type { Logger } from '../../shared/log';
import type { Clock, Publisher } from '../../shared/ports';
import { decodePush, type InboundMessage, type MessagePublishedData } from '../../shared/pubsub/push';
import { TOPICS } from '../../shared/topology';
import { chainKeys } from './core';
import { Pacer } from './pacer';
import { routeOf, type Route } from './routes';
import { DEFAULT_GAP_STATE_CONFIG, type GapStateConfig, type GapStateContext, type GapStore, type Outlet, type OutboxMessage, type RecordedWatermark } from './store';
import { LocalWatermark, tickWatermark } from './watermark';

export interface GapDetectorConfig {
  readonly state: GapStateConfig;
  /**
   * Least wall-clock time between two folds of one source, and two chain sweeps, by one instance
   * (and, through the summary's fold time, by all). A fold writes its source's summary at most
   * twice (a busy source's lease, then the result): 10 s keeps that document at 0.2 writes/s, well under
   * Firestore's sustained ~1 write/s, however busy the source
   * (https://firebase.google.com/docs/firestore/best-practices#hotspots). A source that sends
   * less than one event per interval was folded for nearly every event at 2 s, two summary
   * writes and three reads each (issue 21: 0.85 summary writes per event on the demo stream);
   * folding later changes no finding (each recorded number carries the watermark its delivery
   * saw, and the fold applies them in arrival order), it only reports a due gap or chain up to
   * 10 s later, after a grace of minutes; the scheduler's tick folds whatever is left.
   */
  readonly foldIntervalMs: number;
  /** Least wall-clock time between two writes of this instance's watermark record. */
  readonly watermarkStepMs: number;
  /** RESOURCE_PREFIX: prepended to topic names in this deployment, stripped to route a message. */
  readonly resourcePrefix: string;
  /**
   * The tick publishes outbox messages left over by a crash once they are this old, not ones a
   * delivery is publishing now (which would publish them twice: at least once, never lost).
   */
  readonly outboxGraceMs: number;
}

export const DEFAULT_GAP_DETECTOR_CONFIG: GapDetectorConfig = {
  state: DEFAULT_GAP_STATE_CONFIG,
  foldIntervalMs: 10_000,
  watermarkStepMs: 1000,
  resourcePrefix: '',
  outboxGraceMs: 60_000,
};

export interface GapDetectorDeps {
  readonly publisher: Publisher;
  readonly store: GapStore;
  readonly clock: Clock;
  readonly config: GapDetectorConfig;
  readonly logger: Logger;
  /** Names this instance's watermark record: one writer per record. */
  readonly instanceId: string;
}

/** Where each outlet of the state publishes (DESIGN §1): broken chains re-trigger through events-retrigger. */
const TOPIC_OF: Readonly<Record<Outlet, string>> = { findings: TOPICS.findings, retrigger: TOPICS.retrigger };

/** The tick's watermark record: the events' watermark moved on by the wall-clock time since, less the allowed lateness (watermark.ts). */
export const TICK_WRITER = 'tick';
/** Page size of the tick's queries, and how many pages it walks at most per tick. */
const PAGE = 100;
const MAX_PAGES = 50;

/**
 * gap-detector behind its three subscriptions (DESIGN §1, §3):
 * - events-unique (chains): record the accepted event's sequence number and fold its source, and
 *   apply it to the chains it satisfies and opens (side by side), then report overdue chains;
 * - events-duplicates (sequences): a duplicate the deduplicator dropped: its time, and its sequence
 *   number (used all the same), then fold its source. Every valid event so reaches
 *   gap-detector once, not twice (it read all of events-valid for the numbers before: issue 21);
 * - ticks (Cloud Scheduler): advance the watermark by the wall-clock time the events' watermark
 *   has stood still, less the allowed lateness (`tickWatermark`: a backfill breaks nothing),
 *   then fold every source with recorded numbers or due gaps and report every overdue chain, so
 *   a producer that goes quiet is still reported.
 * Every valid event also raises the watermark. Folds and sweeps are paced per instance; the tick
 * catches whatever pacing left behind. Only transient faults throw.
 */
export function gapDetectorHandler(deps: GapDetectorDeps) {
  const { store, config, logger } = deps;
  const watermark = new LocalWatermark(config.watermarkStepMs);
  const pacer = new Pacer(config.foldIntervalMs);
  const SWEEP = '\u0000chains';

  const context = (): GapStateContext => ({ now: deps.clock.now(), config: config.state });

  async function deliver(messages: readonly OutboxMessage[]): Promise<void> {
    if (messages.length === 0) return;
    faultPoint('after-state-write');
    await Promise.all(messages.map((m) => deps.publisher.publish(TOPIC_OF[m.to], { data: Buffer.from(m.data), attributes: m.attributes })));
    faultPoint('after-publish');
    await store.deleteOutbox(messages.map((m) => m.id));
  }

  async function recordWatermark(value: RecordedWatermark | undefined, ctx: GapStateContext): Promise<void> {
    if (value === undefined) return;
    try {
      await store.advanceWatermark(deps.instanceId, value.ms, ctx, value.atMs);
    } catch (err) {
      watermark.failed();
      throw err;
    }
    watermark.written(value.ms);
  }

  async function currentWatermark(): Promise<number> {
    const stored = await store.readWatermark();
    watermark.learn(stored);
    return Math.max(stored, watermark.local);
  }

  async function fold(source: string, ctx: GapStateContext, force: boolean): Promise<number> {
    const messages = await store.foldSource(source, await currentWatermark(), ctx, { force, minIntervalMs: config.foldIntervalMs });
    await deliver(messages);
    return messages.length;
  }

  async function paced(key: string, ctx: GapStateContext, work: () => Promise<unknown>): Promise<void> {
    if (!pacer.tryStart(key, ctx.now)) return;
    try {
      await work();
    } finally {
      pacer.finish(key);
    }
  }

  /**
   * Decodes a validated event and lets its time raise the watermark: `recorded` is the write of
   * this instance's record where one is due (paced), which the caller awaits beside its own steps.
   * An unparseable one was published around the deduplicator (which validates): logged and acked.
   */
  function arrive(message: InboundMessage, route: Route) {
    const decoded = decodeEvent(message.data);
    if (!decoded.ok) {
      logger.log('ERROR', `unparseable message on ${route}`, { message_id: message.messageId, reason: decoded.reason });
      return undefined;
    }
    const ctx = context();
    const recorded = recordWatermark(watermark.observe(decoded.timeMs, ctx.now), ctx);
    return { event: decoded.event, timeMs: decoded.timeMs, ctx, recorded };
  }

  /** Records the number the event used, if it carries one, and folds its source (paced). */
  async function sequence(event: BusinessEvent, timeMs: number, ctx: GapStateContext): Promise<void> {
    if (event.sequence === undefined) return;
    const marker = { source: event.source, seq: event.sequence, eventId: event.id, type: event.type, timeMs, watermarkMs: watermark.view };
    if ((await store.recordSequence(marker, ctx)) === 'repeat') return;
    await paced(event.source, ctx, () => fold(event.source, ctx, false));
  }

  /** A dropped duplicate (events-duplicates): its time and its sequence number count, not its chains. */
  async function onSequence(message: InboundMessage): Promise<void> {
    const arrived = arrive(message, 'sequences');
    if (arrived === undefined) return;
    await allSettled(arrived.recorded, sequence(arrived.event, arrived.timeMs, arrived.ctx));
  }

  async function sweep(watermarkMs: number, ctx: GapStateContext, pages: number): Promise<number> {
    let reported = 0;
    for (let page = 0; page < pages; page++) {
      const { swept, messages } = await store.sweepChains(watermarkMs, ctx, PAGE);
      await deliver(messages);
      reported += messages.length;
      if (swept < PAGE) break;
    }
    return reported;
  }

  /** An accepted event (events-unique): its sequence number, and the chains it satisfies and opens. */
  async function onChain(message: InboundMessage): Promise<void> {
    const arrived = arrive(message, 'chains');
    if (arrived === undefined) return;
    const { event, timeMs, ctx, recorded } = arrived;
    const payload = config.state.republish ? message.data!.toString('utf8') : undefined;
    const chained = chainKeys(event).length > 0;
    const chains = async () => (chained ? deliver(await store.applyChain(event, timeMs, watermark.view, payload, ctx)) : undefined);
    // The watermark record, the number and the chains are separate state, each step idempotent on
    // a redelivery: taken side by side, not one round trip after the other (issue 21).
    await allSettled(recorded, sequence(event, timeMs, ctx), chains());
    if (!chained) return;
    await paced(SWEEP, ctx, async () => sweep(await currentWatermark(), ctx, 1));
  }

  async function onTick(): Promise<void> {
    const ctx = context();
    await recordWatermark(watermark.paced(ctx.now), ctx);
    const ticked = tickWatermark(await store.readEventWatermark(TICK_WRITER), ctx.now, config.state.allowedLatenessMs);
    if (ticked !== undefined) await store.advanceWatermark(TICK_WRITER, ticked, ctx, ctx.now);
    const watermarkMs = await currentWatermark();
    let messages = 0;
    // Sources with recorded numbers not folded yet, oldest first; one that comes round again got
    // new numbers after its fold, and so has everything after it: leave them to the next tick.
    const folded = new Set<string>();
    for (let i = 0; i < PAGE * MAX_PAGES; i++) {
      const source = await store.oldestPendingSource();
      if (source === undefined || folded.has(source)) break;
      folded.add(source);
      messages += await fold(source, ctx, true);
    }
    for (let page = 0; page < MAX_PAGES; page++) {
      const due = await store.sourcesDue(watermarkMs, PAGE);
      for (const source of due) messages += await fold(source, ctx, true);
      if (due.length < PAGE) break;
    }
    messages += await sweep(watermarkMs, ctx, MAX_PAGES);
    for (let page = 0; page < MAX_PAGES; page++) {
      const left = await store.pendingOutbox(ctx.now - config.outboxGraceMs, PAGE);
      await deliver(left);
      messages += left.length;
      if (left.length < PAGE) break;
    }
    logger.log('INFO', 'tick', {
      watermark: Number.isFinite(watermarkMs) ? new Date(watermarkMs).toISOString() : null,
      sources_folded: folded.size,
      messages_published: messages,
    });
  }

  return async (ce: CloudEvent<MessagePublishedData>): Promise<void> => {
    const message = decodePush(ce);
    const route = routeOf(message.topic, config.resourcePrefix);
    try {
      switch (route) {
        case 'sequences':
          return await onSequence(message);
        case 'chains':
          return await onChain(message);
        case 'ticks':
          return await onTick();
        case undefined:
          // A subscription this function does not own: retrying cannot help.
          logger.log('ERROR', 'message from a topic gap-detector does not consume', { message_id: message.messageId, topic: message.topic });
          return;
        default: {
          const never: never = route;
          throw new Error(`unhandled route ${String(never)}`);
        }
      }
    } catch (err) {
      if (err instanceof TransientError) throw err;
      throw new TransientError(`gap-detector could not handle a ${route} message: ${(err as Error).message}`, 'GAP_DETECTOR_UNAVAILABLE', { messageId: message.messageId }, { cause: err });
    }
  };
}

/**
 * Waits for every step to end, then rejects with the first failure, if any: all of a request's
 * work ends before its answer, failed or not (after it Cloud Run throttles the CPU).
 */
async function allSettled(...steps: ReadonlyArray<Promise<unknown>>): Promise<void> {
  const failed = (await Promise.allSettled(steps)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
}
