import { INGEST_ID } from '../../shared/attributes';
import { filterMatches } from './filter';
import { TOPICS, type ResolvedSubscription } from '../../shared/topology';
import type { ServedFunction } from './functions';
import type { Seen, TopicObserver } from './observe';
import type { PushGateway } from './push-gateway';

/** A push subscription of a served function, with the gateway in front of the function. */
export interface Push {
  readonly sub: ResolvedSubscription;
  readonly gateway: PushGateway;
}

/**
 * How far the pipeline got, per published slice of the demo. A slice went through when every
 * message of it came out of the deduplicator (on events-invalid, events-unique or events-duplicates,
 * which carry the events-raw message id as `ingest_id`: so the observer has seen what it published),
 * and every served function acknowledged (or saw dead-lettered) every message of its topics that
 * stems from that slice or an earlier one. A message that stems from no demo message (a tick,
 * an event someone else published) counts against every slice: it must go through first.
 */
export class Progress {
  private readonly sliceOf = new Map<string, number>();

  constructor(
    private readonly observer: TopicObserver,
    private readonly pushes: readonly Push[],
  ) {}

  /** Records a demo message published to events-raw as part of `slice`. */
  published(messageId: string, slice: number): void {
    this.sliceOf.set(messageId, slice);
  }

  get publishedCount(): number {
    return this.sliceOf.size;
  }

  private slice(m: Seen): number {
    return this.sliceOf.get(m.attributes[INGEST_ID] ?? m.id) ?? Number.NEGATIVE_INFINITY;
  }

  /** Published messages of slices up to `through` that the deduplicator has not routed yet (as invalid, unique or duplicate). */
  unrouted(through = Number.POSITIVE_INFINITY): string[] {
    const routed = new Set(
      [TOPICS.invalid, TOPICS.unique, TOPICS.duplicates].flatMap((topic) => this.observer.messages(topic).map((m) => m.attributes[INGEST_ID] ?? m.id)),
    );
    return [...this.sliceOf].filter(([id, slice]) => slice <= through && !routed.has(id)).map(([id]) => id);
  }

  /** Per push subscription: messages (of slices up to `through`) its function has not acknowledged, nor seen dead-lettered. */
  backlog(through = Number.POSITIVE_INFINITY): Array<{ subscription: string; fn: string; waiting: number; failed: number }> {
    return this.pushes.map(({ sub, gateway }) => {
      const stats = gateway.stats(sub.name);
      const counts = (m: Seen) => this.slice(m) <= through && filterMatches(sub.filter, m.attributes);
      const waiting = this.observer.messages(sub.topic).filter((m) => counts(m) && !stats.acked.has(m.id)).length;
      const deadLettered = sub.deadLetterTopic
        ? this.observer.messages(sub.deadLetterTopic).filter((m) => counts(m) && m.attributes.CloudPubSubDeadLetterSourceSubscription?.endsWith(sub.name)).length
        : 0;
      return { subscription: sub.name, fn: sub.function!, waiting: Math.max(0, waiting - deadLettered), failed: stats.failed };
    });
  }

  /** Everything of slices up to `slice` went through every served function. */
  doneThrough(slice: number): boolean {
    return this.unrouted(slice).length === 0 && this.backlog(slice).every((b) => b.waiting === 0);
  }

  caughtUp(): boolean {
    return this.doneThrough(Number.POSITIVE_INFINITY);
  }

  /** When anything last moved: a message on a topic, or a push to a function. */
  lastActivity(): number {
    return Math.max(this.observer.lastMessageAt(), ...this.pushes.map((p) => p.gateway.stats(p.sub.name).lastAt));
  }

  /** Handler time per subscription so far, slowest first: for --verbose. */
  latencies(): string {
    return this.pushes
      .map(({ sub, gateway }) => ({ name: sub.name, ms: [...gateway.stats(sub.name).handlerMs].sort((a, b) => a - b) }))
      .filter((l) => l.ms.length > 0)
      .sort((a, b) => b.ms[b.ms.length - 1]! - a.ms[a.ms.length - 1]!)
      .map((l) => `${l.name} median ${l.ms[l.ms.length >> 1]} ms, max ${l.ms[l.ms.length - 1]} ms`)
      .join('; ');
  }

  /** What is still outstanding, in sentences, for a run that timed out. */
  outstanding(functions: readonly ServedFunction[]): string[] {
    const out: string[] = [];
    const unrouted = this.unrouted();
    if (unrouted.length > 0) out.push(`${unrouted.length} of ${this.publishedCount} published messages never left the deduplicator (not on events-invalid, events-unique nor events-duplicates)`);
    for (const b of this.backlog()) {
      if (b.waiting > 0) out.push(`${b.fn} has not acknowledged ${b.waiting} messages of ${b.subscription}${b.failed ? ` (${b.failed} failed pushes, retried after the backoff)` : ''}`);
    }
    for (const f of functions) if (f.activity.errors > 0) out.push(`${f.name} logged ${f.activity.errors} error lines: ${f.logPath}`);
    if (out.length === 0) out.push('messages kept arriving: the pipeline never stayed still for the quiet period');
    return out;
  }
}

export class TimeoutError extends Error {}

/** Polls `done` until it holds; `check` may throw (a function died); TimeoutError after `deadline`. */
export async function waitUntil(done: () => boolean, deadline: number, check: () => void): Promise<void> {
  for (;;) {
    check();
    if (done()) return;
    if (Date.now() > deadline) throw new TimeoutError('timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
}
