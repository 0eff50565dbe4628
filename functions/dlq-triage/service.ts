import { randomUUID } from 'node:crypto';
import { RateLimiter, type Sleep } from '../../shared/adapters/rate-limiter';
import { failureKey, subscriptionName, DEAD_LETTER_ATTRIBUTES } from '../../shared/dead-letters';
import type { FailureStore } from '../../shared/failures';
import type { Logger } from '../../shared/log';
import type { Clock, Publisher } from '../../shared/ports';
import { derivedId } from '../../shared/ids';
import { publishFinding } from '../../shared/publish';
import { TOPICS, type Topology } from '../../shared/topology';
import {
  addToStats,
  applyFix,
  close,
  deadLetterFinding,
  emptyStats,
  STATS_NONE,
  STATS_UNKNOWN_TYPE,
  statsDomain,
  statsFromCounts,
  matches,
  mergePatch,
  originalJson,
  REPLAY_OF,
  replayMessage,
  replayRefusal,
  triageDeadLetter,
  triageInvalid,
  triageReview,
  type Inbound,
  type Stats,
} from './core';
import type { AuditEntry, BulkJob, BulkReplayBody, FixBody, ListQuery, RecordFilter, TriageRecord } from './records';
import type { CountQuery, TriageStore, Versioned } from './store';

export interface TriageDeps {
  readonly store: TriageStore;
  readonly failures: FailureStore;
  readonly publisher: Publisher;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly topology: Topology;
  readonly config: {
    /** RESOURCE_PREFIX, stripped from subscription and topic names Pub/Sub reports. */
    readonly prefix: string;
    /** How long a closed record is kept (its TTL starts when it closes). */
    readonly retentionMs: number;
    /** How long a replay in flight holds its record against another replay. */
    readonly claimMs: number;
    /** Validation's rule for a fixed event's `time` (the deduplicator's MAX_FUTURE_MINUTES). */
    readonly maxFutureMs: number;
  };
  /** Injected in tests to run bulk replays on a fake clock. */
  readonly sleep?: Sleep;
}

export type ReplayOutcome =
  | { readonly outcome: 'published'; readonly record: TriageRecord; readonly message_id: string }
  | { readonly outcome: 'skipped'; readonly record: TriageRecord; readonly reason: string }
  | { readonly outcome: 'refused' | 'failed'; readonly record?: TriageRecord; readonly reason: string };

export type FixOutcome =
  | ReplayOutcome
  | { readonly outcome: 'rejected'; readonly reason: string; readonly errors: ReadonlyArray<{ path: string; message: string }> }
  | { readonly outcome: 'valid'; readonly event: unknown };

/** dlq-triage's work: storing what arrives, and every operator action (DESIGN §5). */
export class TriageService {
  private readonly limiters = new Map<string, RateLimiter>();
  /** Orders audit entries written in the same millisecond by this instance. */
  private auditSeq = 0;

  constructor(private readonly deps: TriageDeps) {}

  private now(): number {
    return this.deps.clock.now();
  }

  private ctx() {
    return { now: this.now(), topology: this.deps.topology, prefix: this.deps.config.prefix };
  }

  /**
   * Stores one arriving message: a dead letter (with the failure its boundary recorded), an
   * events-invalid record, or a finding held for review. Idempotent: a redelivery finds the
   * record there. Throws only on a fault worth a redelivery, or on a message it cannot read.
   */
  async receive(topic: string, m: Inbound): Promise<TriageRecord | undefined> {
    let record: TriageRecord | undefined;
    if (topic === TOPICS.deadLetters) {
      const subscription = subscriptionName(m.attributes[DEAD_LETTER_ATTRIBUTES.subscription] ?? '', this.deps.config.prefix);
      const failure = subscription ? await this.deps.failures.get(failureKey(subscription, m.data, m.attributes)) : undefined;
      record = triageDeadLetter(m, failure, this.ctx());
    } else if (topic === TOPICS.invalid) {
      const result = triageInvalid(m, this.ctx());
      if (!result.ok) throw new Error(result.reason);
      record = result.record;
    } else if (topic === TOPICS.findings) {
      record = triageReview(m, this.ctx());
      if (!record) return undefined; // the emulator does not enforce the subscription's filter
    } else {
      throw new Error(`dlq-triage does not consume topic ${topic}`);
    }
    const created = await this.deps.store.create(record);
    // Published on every delivery, under one finding id: a crash between storing and publishing
    // is healed by the redelivery, and the repeat is recognisable. The id is the message's and
    // its subscription's (the failure key), not the copy's: Pub/Sub may dead-letter one message
    // more than once, each time a copy under a new message id, and that is still one dead letter
    // (DESIGN §4: a finding's id derives from what it is about).
    if (record.origin === 'dead_letter') {
      const about = failureKey(record.subscription, record.original.data, record.original.attributes);
      await publishFinding(this.deps.publisher, deadLetterFinding(record), derivedId('dead_lettered', about));
    }
    if (created === 'created') {
      this.deps.logger.log(record.class === 'invalid' || record.class === 'review' ? 'NOTICE' : 'WARNING', `triage: ${record.class} record ${record.id} from ${record.subscription || 'findings'}: ${record.reason}`, {
        triage_id: record.id,
        class: record.class,
        subscription: record.subscription,
        ...(record.event.id ? { event_id: record.event.id } : {}),
      });
    }
    return record;
  }

  get(id: string): Promise<TriageRecord | undefined> {
    return this.deps.store.get(id);
  }

  /** One page of the records that pass the filter, oldest first. */
  async list(query: ListQuery): Promise<{ records: TriageRecord[]; next_page_token?: string }> {
    const out: TriageRecord[] = [];
    let after = query.page_token;
    const now = this.now();
    for (;;) {
      const batch = await this.deps.store.scan({ ...(after !== undefined ? { after } : {}), limit: PAGE, ...(query.state ? { states: query.state } : {}) });
      for (const { record: r } of batch) {
        after = r.id;
        if (!matches(r, query, now)) continue;
        out.push(r);
        if (out.length === query.page_size) return { records: out, next_page_token: r.id };
      }
      if (batch.length < PAGE) return { records: out };
    }
  }

  /**
   * Every record passing `filter`, page by page. With `prefetch` the next page is read while the
   * caller works through this one (a bulk replay must not pause at every page).
   */
  private async *each(filter: RecordFilter, after?: string, options: { prefetch?: boolean } = {}): AsyncGenerator<Versioned> {
    const now = this.now();
    const page = (cursor: string | undefined) => this.deps.store.scan({ ...(cursor !== undefined ? { after: cursor } : {}), limit: PAGE, ...(filter.state ? { states: filter.state } : {}) });
    let pending: Promise<Versioned[]> | undefined = page(after);
    try {
      while (pending) {
        const batch: Versioned[] = await pending;
        const last = batch[batch.length - 1]?.record.id;
        pending = batch.length < PAGE ? undefined : options.prefetch ? page(last) : undefined;
        for (const v of batch) if (matches(v.record, filter, now)) yield v;
        if (batch.length < PAGE) return;
        pending ??= page(last);
      }
    } finally {
      // A page read ahead and never used must not become an unhandled rejection.
      pending?.catch(() => undefined);
    }
  }

  /**
   * Counts by class, state, subscription and type. Filtered at most by class and state, it is
   * aggregation counts (one per known value, never reading a record); any other filter needs the
   * records themselves, read page by page. Both give the same answer (core.ts statsKeys).
   */
  async stats(filter: RecordFilter = {}): Promise<Stats> {
    const domain = statsDomain(this.deps.topology);
    const { class: classes, state: states, ...rest } = filter;
    if (Object.values(rest).some((v) => v !== undefined)) {
      const stats = emptyStats();
      for await (const { record } of this.each(filter)) addToStats(stats, record, domain);
      return stats;
    }
    const base = { ...(classes ? { class: classes } : {}), ...(states ? { state: states } : {}) };
    const count = (q: CountQuery) => this.deps.store.count(q);
    const each = <T extends string>(values: readonly T[], query: (v: T) => CountQuery | undefined) =>
      Promise.all(values.map(async (v) => {
        const q = query(v);
        return [v, q ? await count(q) : 0] as const;
      }));
    const [total, byClass, byState, bySubscription, byType] = await Promise.all([
      count(base),
      each(domain.class, (c) => (!classes || classes.includes(c) ? { ...base, class: [c] } : undefined)),
      each(domain.state, (st) => (!states || states.includes(st) ? { ...base, state: [st] } : undefined)),
      each([...domain.subscription, ''], (sub) => ({ ...base, subscription: sub })),
      each([...domain.type, ''], (type) => ({ ...base, type })),
    ]);
    const named = (pairs: ReadonlyArray<readonly [string, number]>, none: string) => pairs.map(([k, n]) => [k === '' ? none : k, n] as const);
    return statsFromCounts(total, { class: byClass, state: byState, subscription: named(bySubscription, STATS_NONE), type: named(byType, STATS_UNKNOWN_TYPE) });
  }

  private auditEntry(entry: Omit<AuditEntry, 'id' | 'at'>): AuditEntry {
    const now = this.now();
    return { id: `${String(now).padStart(13, '0')}-${String((this.auditSeq = (this.auditSeq + 1) % 1e6)).padStart(6, '0')}-${randomUUID().slice(0, 8)}`, at: new Date(now).toISOString(), ...entry };
  }

  private async audit(entry: Omit<AuditEntry, 'id' | 'at'>): Promise<void> {
    await this.deps.store.audit(this.auditEntry(entry));
  }

  auditLog(query: { after?: string; limit: number; recordId?: string }): Promise<AuditEntry[]> {
    return this.deps.store.auditLog(query);
  }

  /**
   * Replays one record to the subscription that failed it, once: the record is claimed in a
   * compare-and-set before anything is published, so a second replay (or a concurrent one) finds
   * it replayed (or claimed) and publishes nothing; a failed publish releases the claim and
   * leaves the record open. The close is fenced on the claim's version. A publish that outlives
   * its claim, or dies unanswered, may be published again by the next replay: both carry this
   * record's `replay_of`, and the target subscription's boundary handles only one of them.
   */
  async replay(id: string, actor: string, options: { job?: string; fix?: { data: string; attributes: Record<string, string> }; known?: Versioned } = {}): Promise<ReplayOutcome> {
    const claimId = randomUUID();
    const now = this.now();
    let refusal: ReplayOutcome | undefined;
    const claimed = await this.deps.store.update(id, (r) => {
      refusal = undefined; // the store may ask again, on a fresher read
      if (r.state !== 'open') {
        refusal = { outcome: 'skipped', record: r, reason: `already ${r.state}` };
        return undefined;
      }
      const why = replayRefusal(r, this.deps.topology, options.fix);
      if (why) {
        refusal = { outcome: 'refused', record: r, reason: why };
        return undefined;
      }
      if (r.claim && Date.parse(r.claim.until) > now) {
        refusal = { outcome: 'skipped', record: r, reason: 'a replay of it is in flight' };
        return undefined;
      }
      return { ...r, claim: { id: claimId, until: new Date(now + this.deps.config.claimMs).toISOString() } };
    }, options.known);
    const action = options.fix ? 'fix' : 'replay';
    const jobField = options.job ? { job_id: options.job } : {};
    if (!claimed.before) return { outcome: 'refused', reason: `no record ${id}` };
    if (refusal) {
      if (!options.job) await this.audit({ actor, action, outcome: refusal.outcome === 'refused' ? 'rejected' : 'skipped', record_id: id, detail: 'reason' in refusal ? refusal.reason : undefined, ...jobField });
      return refusal;
    }
    const record = claimed.after!;
    const message = replayMessage(record, this.deps.topology, options.fix ? { data: options.fix.data, attributes: options.fix.attributes } : record.original);
    let messageId: string;
    try {
      messageId = await this.deps.publisher.publish(message.topic, { data: message.data, attributes: message.attributes });
    } catch (err) {
      await this.deps.store.update(id, (r) => (r.claim?.id === claimId ? (({ claim: _c, ...rest }) => rest)(r) : undefined));
      const reason = `publish to ${message.topic} failed: ${(err as Error).message}`;
      await this.audit({ actor, action, outcome: 'failed', record_id: id, detail: reason, ...jobField });
      this.deps.logger.log('ERROR', `triage: ${action} of ${id} failed; the record stays open`, { triage_id: id, cause: reason });
      return { outcome: 'failed', record: claimed.before, reason };
    }
    const at = new Date(this.now()).toISOString();
    const detail = `published ${messageId} to ${message.topic} for ${record.subscription}`;
    const next = close(
      record,
      options.fix ? 'fixed' : 'replayed',
      { action, by: actor, note: `${detail}${options.job ? ` (job ${options.job})` : ''}` },
      {
        replay: { message_id: messageId, at, by: actor, ...(options.job ? { job: options.job } : {}) },
        ...(options.fix ? { fix: { ...options.fix, at, by: actor } } : {}),
      },
      { now: this.now(), retentionMs: this.deps.config.retentionMs },
    );
    // Fenced on the claim's write: closes only a record nobody touched since this replay claimed it.
    if (await this.deps.store.replaceIf(id, claimed.version!, next, this.auditEntry({ actor, action, outcome: 'ok', record_id: id, before: claimed.before, after: next, detail, ...jobField }))) {
      return { outcome: 'published', record: next, message_id: messageId };
    }
    // The claim lapsed while publishing (a slow publish) and another replay took the record: both
    // messages carry the same replay_of, and the target's boundary lets only one through.
    const after = (await this.deps.store.get(id)) ?? record;
    await this.audit({ actor, action, outcome: 'ok', record_id: id, before: claimed.before, after, detail: `${detail} after its claim lapsed: a repeat the target subscription drops (${REPLAY_OF})`, ...jobField });
    this.deps.logger.log('WARNING', `triage: ${action} of ${id} published after its claim lapsed; the target drops the repeat`, { triage_id: id, message_id: messageId });
    return { outcome: 'published', record: after, message_id: messageId };
  }

  /**
   * Fix-and-replay: the fixed event (a JSON merge patch on the original, or a whole event) is
   * validated with the shared schemas before anything is published; a fix that fails says why and
   * publishes nothing. The original stays in the record beside the fix.
   */
  async fix(id: string, body: FixBody, actor: string): Promise<FixOutcome> {
    const record = await this.deps.store.get(id);
    if (!record) return { outcome: 'refused', reason: `no record ${id}` };
    if (record.state !== 'open') return { outcome: 'skipped', record, reason: `already ${record.state}` };
    const fixed = 'patch' in body ? mergePatch(originalJson(record) ?? {}, body.patch) : body.event;
    const result = applyFix(record, fixed, { now: this.now(), maxFutureMs: this.deps.config.maxFutureMs });
    if (!result.ok) {
      if (!body.dry_run) await this.audit({ actor, action: 'fix', outcome: 'rejected', record_id: id, detail: result.reason });
      return { outcome: 'rejected', reason: result.reason, errors: result.errors };
    }
    if (body.dry_run) return { outcome: 'valid', event: fixed };
    return this.replay(id, actor, { fix: result.fixed });
  }

  async discard(id: string, reason: string, actor: string): Promise<{ outcome: 'ok' | 'skipped' | 'refused'; record?: TriageRecord; reason?: string }> {
    const now = this.now();
    const change = await this.deps.store.update(id, (r) =>
      r.state === 'open' && !(r.claim && Date.parse(r.claim.until) > now)
        ? close(r, 'discarded', { action: 'discard', by: actor, note: reason }, { discard: { reason, at: new Date(now).toISOString(), by: actor } }, { now, retentionMs: this.deps.config.retentionMs })
        : undefined,
    );
    if (!change.before) return { outcome: 'refused', reason: `no record ${id}` };
    if (!change.after) {
      const why = change.before.state === 'open' ? 'a replay of it is in flight' : `already ${change.before.state}`;
      await this.audit({ actor, action: 'discard', outcome: 'skipped', record_id: id, detail: why });
      return { outcome: 'skipped', record: change.before, reason: why };
    }
    await this.audit({ actor, action: 'discard', outcome: 'ok', record_id: id, detail: reason, before: change.before, after: change.after });
    return { outcome: 'ok', record: change.after };
  }

  /** Starts a bulk replay of the open records that pass the filter; a dry run only counts them. */
  async startBulk(body: BulkReplayBody, actor: string): Promise<{ dry_run: true; count: number; by_subscription: Record<string, number> } | BulkJob> {
    const filter: RecordFilter = { ...body.filter, state: ['open'] };
    const stats = await this.stats(filter);
    if (body.dry_run) return { dry_run: true, count: stats.total, by_subscription: stats.by_subscription };
    const now = new Date(this.now()).toISOString();
    const job: BulkJob = {
      id: `job-${String(this.now()).padStart(13, '0')}-${randomUUID().slice(0, 8)}`,
      filter,
      rate_per_second: body.rate_per_second,
      state: 'running',
      total: stats.total,
      published: 0,
      skipped: 0,
      failed: 0,
      created_by: actor,
      created_at: now,
      updated_at: now,
    };
    await this.deps.store.saveJob(job);
    await this.audit({ actor, action: 'bulk_replay', outcome: 'ok', job_id: job.id, detail: `${job.total} open records, ${job.rate_per_second}/s, filter ${JSON.stringify(body.filter)}` });
    return job;
  }

  getJob(id: string): Promise<BulkJob | undefined> {
    return this.deps.store.getJob(id);
  }

  async stopJob(id: string, actor: string): Promise<BulkJob | undefined> {
    const job = await this.deps.store.getJob(id);
    if (!job) return undefined;
    if (job.state !== 'running') return job;
    const stopped: BulkJob = { ...job, state: 'stopped', updated_at: new Date(this.now()).toISOString() };
    await this.deps.store.saveJob(stopped);
    await this.audit({ actor, action: 'bulk_replay_stop', outcome: 'ok', job_id: id, detail: `stopped after ${job.published} published` });
    return stopped;
  }

  /**
   * Runs a slice of a bulk replay job: at most `maxRecords` records or `maxMs`, starting replays
   * on the job's rate limiter's schedule (never faster), with up to two seconds' worth of replays
   * in flight (each replay is a few store round trips and a publish: one at a time could not reach
   * the rate). The next page of records is read while this one is dispatched, and progress is saved
   * every half second beside the dispatching, never in its way. The cursor (record id order) only
   * passes records whose replay finished, so a run that dies is resumed by running the job again,
   * and records it replayed are no longer open and never published twice. A stopped job publishes
   * nothing more; a failed publish ends the slice with the record still open, for the next run.
   */
  async runJob(id: string, limits: { maxRecords: number; maxMs: number }): Promise<BulkJob | undefined> {
    const initial = await this.deps.store.getJob(id);
    if (!initial || initial.state !== 'running') return initial;
    let job: BulkJob = initial;
    let limiter = this.limiters.get(id);
    if (!limiter) {
      limiter = new RateLimiter({ ratePerSecond: job.rate_per_second, clock: this.deps.clock, name: `bulk replay ${id}`, ...(this.deps.sleep ? { sleep: this.deps.sleep } : {}) });
      this.limiters.set(id, limiter);
    }
    const maxInFlight = Math.max(1, Math.min(MAX_IN_FLIGHT, Math.ceil(job.rate_per_second * IN_FLIGHT_SECONDS)));
    const deadline = this.now() + limits.maxMs;
    const dispatched: Array<{ id: string; result?: ReplayOutcome; counted?: boolean }> = [];
    const inFlight = new Set<Promise<void>>();
    let failed: string | undefined;
    let stopped = false;
    let exhausted = true;
    let lastSave = this.now();
    let saving: Promise<void> | undefined;

    const progress = (): BulkJob => {
      let { published, skipped, failed: failures } = job;
      for (const d of dispatched) {
        if (!d.result || d.counted) continue;
        d.counted = true;
        if (d.result.outcome === 'published') published += 1;
        else if (d.result.outcome === 'failed') failures += 1;
        else skipped += 1;
      }
      // The cursor passes only the finished prefix: a failed or unfinished record is met again.
      let cursor = job.cursor;
      let finished = 0;
      for (const d of dispatched) {
        if (!d.result || d.result.outcome === 'failed') break;
        cursor = d.id;
        finished += 1;
      }
      // Entries behind the cursor are counted and passed: drop them, so a long slice stays small.
      if (finished > 0) dispatched.splice(0, finished);
      return { ...job, ...(cursor !== undefined ? { cursor } : {}), published, skipped, failed: failures, ...(failed ? { last_error: failed } : {}), updated_at: new Date(this.now()).toISOString() };
    };
    const save = async () => {
      const current = await this.deps.store.getJob(id);
      if (!current || current.state !== 'running') stopped = true;
      job = progress();
      if (!stopped) await this.deps.store.saveJob(job);
      else if (current) await this.deps.store.saveJob({ ...job, state: current.state });
    };

    let count = 0;
    for await (const read of this.each(job.filter, job.cursor, { prefetch: true })) {
      if (count >= limits.maxRecords || this.now() >= deadline || failed || stopped) {
        exhausted = false;
        break;
      }
      if (!saving && this.now() - lastSave >= 500) {
        lastSave = this.now();
        saving = save().finally(() => (saving = undefined));
      }
      while (inFlight.size >= maxInFlight) await Promise.race(inFlight);
      await limiter.acquire();
      if (stopped) {
        exhausted = false;
        break;
      }
      count += 1;
      const slot: { id: string; result?: ReplayOutcome; counted?: boolean } = { id: read.record.id };
      dispatched.push(slot);
      const p: Promise<void> = this.replay(read.record.id, job.created_by, { job: id, known: read }).then(
        (result) => {
          slot.result = result;
          if (result.outcome === 'failed') failed = result.reason;
        },
        (err: unknown) => {
          slot.result = { outcome: 'failed', reason: (err as Error).message };
          failed = (err as Error).message;
        },
      );
      const tracked = p.finally(() => inFlight.delete(tracked));
      inFlight.add(tracked);
    }
    await Promise.all(inFlight);
    await saving;
    if (failed) exhausted = false;
    await save();
    if (exhausted && !stopped) {
      job = { ...job, state: 'done', updated_at: new Date(this.now()).toISOString() };
      await this.deps.store.saveJob(job);
      this.limiters.delete(id);
    }
    return stopped ? this.deps.store.getJob(id) : job;
  }
}

/** Records read from the store at once. */
const PAGE = 200;

/** The most replays a bulk job keeps in flight, and how many seconds of its rate that may be. */
const MAX_IN_FLIGHT = 200;
const IN_FLIGHT_SECONDS = 2;
