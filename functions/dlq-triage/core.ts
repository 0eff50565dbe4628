import { createHash } from 'node:crypto';
import { INGEST_ID, MAX_ATTRIBUTES } from '../../shared/attributes';
import { DEAD_LETTER_ATTRIBUTES, failureKey, ingestSubscription, producerAttributes, REPLAY_OF, subscriptionName, TARGET_SUBSCRIPTION, type SubscriptionManifest } from '../../shared/dead-letters';
import { validateJson, type ValidationError } from '../../shared/events/validate';
import type { FailureRecord } from '../../shared/failures';
import type { z } from 'zod';
import type { DeadLetterFinding as DeadLetterFindingSchema } from '../../shared/findings';

type DeadLetterFinding = z.infer<typeof DeadLetterFindingSchema>;
import { eventTypes, isEventType } from '../../shared/events/catalog';
import { InvalidEventMessage, TriageClass, TriageState, type HistoryEntry, type KeptMessage, type RecordFilter, type TriageRecord } from './records';

export const NAME = 'dlq-triage';

export const NO_REASON = 'no reason recorded';

export { REPLAY_OF } from '../../shared/dead-letters';

export interface TriageContext {
  readonly now: number;
  readonly topology: SubscriptionManifest;
  /** RESOURCE_PREFIX of this stack, stripped from the subscription names Pub/Sub reports. */
  readonly prefix: string;
}

/** A message as dlq-triage receives it. */
export interface Inbound {
  readonly messageId: string;
  readonly publishTime: string | undefined;
  /** Base64, as it came. */
  readonly data: string;
  readonly attributes: Readonly<Record<string, string>>;
}

const iso = (ms: number) => new Date(ms).toISOString();
const digest = (...parts: string[]) => createHash('sha256').update(JSON.stringify(parts)).digest('base64url').slice(0, 20);

/** Record ids sort by when the message was first published, so lists and bulk jobs go oldest first. */
function recordId(kind: 'd' | 'i' | 'r', publishTime: string | undefined, key: string): string {
  const ms = publishTime ? Date.parse(publishTime) : Number.NaN;
  const stamp = Number.isNaN(ms) ? '0000000000000' : String(ms).padStart(13, '0');
  return `${stamp}-${kind}-${digest(kind, key)}`;
}

function identityOf(data: string): TriageRecord['event'] {
  try {
    const value: unknown = JSON.parse(Buffer.from(data, 'base64').toString('utf8'));
    if (value === null || typeof value !== 'object') return {};
    const v = value as Record<string, unknown>;
    const out: TriageRecord['event'] = {};
    if (typeof v.id === 'string') out.id = v.id;
    if (typeof v.type === 'string') out.type = v.type;
    if (typeof v.source === 'string') out.source = v.source;
    return out;
  } catch {
    return {};
  }
}

function describeFailure(f: FailureRecord): string {
  return `${f.function}: ${f.error_class}${f.code ? ` ${f.code}` : ''}: ${f.message} (${f.attempts} recorded attempt${f.attempts === 1 ? '' : 's'}, ${f.first_at} .. ${f.last_at})`;
}

/**
 * The triage record of a dead-lettered copy (DESIGN §5). `failure` is what the failing function's
 * boundary recorded under the key computed from this copy, if anything; without it the class is
 * `transient` (a timeout or a crashed instance records nothing, and replaying is what helps) and
 * the reason says no reason was recorded. A redelivered dead letter, or another copy of the same
 * message dead-lettered again, is the same record (see the id below).
 */
export function triageDeadLetter(m: Inbound, failure: FailureRecord | undefined, ctx: TriageContext): TriageRecord {
  const sourcePath = m.attributes[DEAD_LETTER_ATTRIBUTES.subscription] ?? '';
  const subscription = subscriptionName(sourcePath, ctx.prefix);
  const topic = ctx.topology.subscriptions.find((s) => s.name === subscription)?.topic ?? 'unknown';
  const count = Number(m.attributes[DEAD_LETTER_ATTRIBUTES.deliveryCount]);
  const pubsubError = m.attributes[DEAD_LETTER_ATTRIBUTES.deliveryErrorMessage];
  const reason = failure ? describeFailure(failure) : pubsubError ? `Pub/Sub: ${pubsubError}` : NO_REASON;
  const now = iso(ctx.now);
  // One record per message, not per copy: Pub/Sub may dead-letter a message more than once, each
  // time a copy under a new message id and publish time, but every copy carries the original's
  // publish time (DEAD_LETTER_ATTRIBUTES.topicPublishTime; the emulator sets it too). That time and
  // the failure key (subscription, payload, producer's attributes) name the message. A copy without
  // it stands for itself.
  const sourcePublished = m.attributes[DEAD_LETTER_ATTRIBUTES.topicPublishTime];
  const id = sourcePublished
    ? recordId('d', sourcePublished, `${failureKey(subscription || 'unknown', m.data, m.attributes)}\0${sourcePublished}`)
    : recordId('d', m.publishTime, m.messageId);
  return {
    id,
    origin: 'dead_letter',
    class: failure?.class ?? 'transient',
    state: 'open',
    subscription: subscription || 'unknown',
    topic,
    received: { message_id: m.messageId, ...(m.publishTime ? { publish_time: m.publishTime } : {}), data: m.data, attributes: { ...m.attributes } },
    original: { data: m.data, attributes: producerAttributes(m.attributes) },
    ...(Number.isInteger(count) && count >= 0 ? { delivery_count: count } : {}),
    reason,
    ...(failure ? { failure } : {}),
    event: identityOf(m.data),
    received_at: now,
    updated_at: now,
    history: [{ at: now, action: 'received', note: `dead-lettered from ${subscription || 'an unknown subscription'}${Number.isInteger(count) ? ` after ${count} deliveries` : ''}` }],
  };
}

/**
 * The triage record of an events-invalid message (the deduplicator's record: reason, errors and the
 * raw message). Keyed by the raw message id, so the deduplicator publishing it twice is one record.
 */
export function triageInvalid(m: Inbound, ctx: TriageContext): { ok: true; record: TriageRecord } | { ok: false; reason: string } {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(m.data, 'base64').toString('utf8'));
  } catch {
    return { ok: false, reason: 'events-invalid message data is not JSON' };
  }
  const parsed = InvalidEventMessage.safeParse(value);
  if (!parsed.success) return { ok: false, reason: `events-invalid message is not an invalid-event record: ${parsed.error.issues[0]?.message ?? ''}` };
  const raw = parsed.data.message;
  // Once fixed, an invalid event is validated again: replayed to the subscription that reads events-raw.
  const target = ingestSubscription(ctx.topology);
  const now = iso(ctx.now);
  return {
    ok: true,
    record: {
      id: recordId('i', raw.publish_time ?? m.publishTime, raw.message_id),
      origin: 'invalid',
      class: 'invalid',
      state: 'open',
      subscription: target.name,
      topic: target.topic,
      received: { message_id: m.messageId, ...(m.publishTime ? { publish_time: m.publishTime } : {}), data: m.data, attributes: { ...m.attributes } },
      original: { data: raw.data, attributes: raw.attributes },
      reason: parsed.data.reason,
      errors: parsed.data.errors,
      event: identityOf(raw.data),
      received_at: now,
      updated_at: now,
      history: [{ at: now, action: 'received', note: 'failed validation' }],
    },
  };
}

/** A finding held for review (DESIGN §3), kept so that a person can find and dismiss it. */
export function triageReview(m: Inbound, ctx: TriageContext): TriageRecord | undefined {
  let finding: Record<string, unknown>;
  try {
    const value: unknown = JSON.parse(Buffer.from(m.data, 'base64').toString('utf8'));
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
    finding = value as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (finding.action !== 'review') return undefined;
  const now = iso(ctx.now);
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const event: TriageRecord['event'] = {};
  if (str(finding.event_id)) event.id = str(finding.event_id)!;
  if (str(finding.type)) event.type = str(finding.type)!;
  if (str(finding.source)) event.source = str(finding.source)!;
  return {
    id: recordId('r', m.publishTime, m.attributes.finding_id ?? m.messageId),
    origin: 'review',
    class: 'review',
    state: 'open',
    subscription: '',
    topic: '',
    received: { message_id: m.messageId, ...(m.publishTime ? { publish_time: m.publishTime } : {}), data: m.data, attributes: { ...m.attributes } },
    original: { data: m.data, attributes: { ...m.attributes } },
    reason: str(finding.reason) ?? `${String(finding.kind)} held for review`,
    event,
    finding,
    received_at: now,
    updated_at: now,
    history: [{ at: now, action: 'received', note: 'finding held for review' }],
  };
}

/**
 * Where a record's replay goes: the subscription that failed it, or, where an upgrade replaced
 * that subscription (the manifest's `replaces`), the one that took over its work. Undefined when
 * neither is in the manifest.
 */
export function replayTarget(record: TriageRecord, topology: SubscriptionManifest): { name: string; topic: string } | undefined {
  if (!record.subscription) return undefined;
  const s = topology.subscriptions.find((x) => x.name === record.subscription) ?? topology.subscriptions.find((x) => x.replaces?.includes(record.subscription));
  return s ? { name: s.name, topic: s.topic } : undefined;
}

/**
 * The message a replay publishes: the original (or the fix), aimed at one subscription only
 * (`replayTarget`). A dead letter that carries no `ingest_id` (an events-raw message, as its
 * producer sent it) is given the message id of the delivery that failed (its failure record's):
 * the deduplicator keys an event's claim on it, so the replay takes over a claim that delivery
 * made and forwards the event, instead of being judged a duplicate of itself
 * (functions/deduplicator/handler.ts). Call it for a record `replayRefusal` lets through.
 */
export function replayMessage(record: TriageRecord, topology: SubscriptionManifest, payload: KeptMessage = record.fix ?? record.original): { topic: string; data: Buffer; attributes: Record<string, string> } {
  const target = replayTarget(record, topology);
  if (!target) throw new Error(`record ${record.id}: ${NO_TARGET}`);
  const attributes: Record<string, string> = {};
  for (const [k, v] of Object.entries(payload.attributes)) if (k !== TARGET_SUBSCRIPTION && k !== REPLAY_OF) attributes[k] = v;
  const ingest = carriedIngestId(record, payload);
  if (ingest !== undefined) attributes[INGEST_ID] = ingest;
  attributes[TARGET_SUBSCRIPTION] = target.name;
  attributes[REPLAY_OF] = record.id;
  return { topic: target.topic, data: Buffer.from(payload.data, 'base64'), attributes };
}

/** The ingest id a replay adds (see replayMessage), or undefined when it adds none. */
function carriedIngestId(record: TriageRecord, payload: KeptMessage): string | undefined {
  if (payload.attributes[INGEST_ID] !== undefined) return undefined;
  const failed = record.failure?.message_id;
  return failed ? failed : undefined;
}

const NO_TARGET = 'the subscription that failed it is not in the manifest';

/** Why a record cannot be replayed now (with `payload`, a fix, in place of its original), or undefined when it can. */
export function replayRefusal(record: TriageRecord, topology: SubscriptionManifest, payload: KeptMessage = record.fix ?? record.original): string | undefined {
  if (record.origin === 'review') return 'a finding held for review has no message to replay (discard it once decided)';
  if (!replayTarget(record, topology)) return record.subscription ? `${NO_TARGET} (${record.subscription})` : NO_TARGET;
  const own = Object.keys(payload.attributes).filter((k) => k !== TARGET_SUBSCRIPTION && k !== REPLAY_OF).length;
  const added = [...(carriedIngestId(record, payload) !== undefined ? [INGEST_ID] : []), TARGET_SUBSCRIPTION, REPLAY_OF];
  if (own + added.length > MAX_ATTRIBUTES) {
    return `the message carries ${own} attributes: a replay adds ${added.join(', ')}, over Pub/Sub's ${MAX_ATTRIBUTES} attributes (discard it, or have its producer send it again)`;
  }
  return undefined;
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** The original payload as JSON, for editing; undefined when it is not JSON. */
export function originalJson(record: TriageRecord): unknown {
  try {
    return JSON.parse(Buffer.from(record.original.data, 'base64').toString('utf8'));
  } catch {
    return undefined;
  }
}

export type FixResult =
  | { readonly ok: true; readonly fixed: KeptMessage; readonly event: { id: string; type: string; source: string } }
  | { readonly ok: false; readonly reason: string; readonly errors: readonly ValidationError[] };

/**
 * Validates a fixed payload with the shared event schemas (DESIGN §2) before anything is
 * published; the attributes repeat the fixed event's `type`, `source`, `id`.
 */
export function applyFix(record: TriageRecord, fixed: unknown, ctx: { now: number; maxFutureMs: number }): FixResult {
  const text = JSON.stringify(fixed);
  const result = validateJson(text, { now: ctx.now, maxFutureMs: ctx.maxFutureMs });
  if (!result.ok) return { ok: false, reason: result.reason, errors: result.errors };
  const { id, type, source } = result.event;
  const changed = identityChange(originalJson(record), { id, type });
  if (changed.length > 0) {
    return { ok: false, reason: `a fix keeps the event's identity: ${changed.map((e) => e.message).join('; ')}`, errors: changed };
  }
  return {
    ok: true,
    fixed: { data: Buffer.from(text).toString('base64'), attributes: { ...record.original.attributes, type, source, id } },
    event: { id, type, source },
  };
}

/**
 * What a fix changed of the event's identity (issue 20.5). The `id` is the idempotency key the
 * deduplicator and the archive know the event by, and the `type` decides which subscriptions
 * handle it: a fix that changed either would reach consumers as another event (a sale "fixed"
 * into a discount went to a subscription that ignores it, under an id that skipped dedup). So
 * both are kept, unless the original's was what made it invalid: an `id` that was missing or not
 * a valid id, a `type` the catalog does not know.
 */
export function identityChange(original: unknown, fixed: { id: string; type: string }): ValidationError[] {
  const o = original !== null && typeof original === 'object' && !Array.isArray(original) ? (original as Record<string, unknown>) : {};
  const errors: ValidationError[] = [];
  if (typeof o.id === 'string' && o.id.length >= 1 && o.id.length <= 256 && o.id !== fixed.id) {
    errors.push({ path: 'id', message: `id ${JSON.stringify(fixed.id)} is not the original's ${JSON.stringify(o.id)}` });
  }
  if (isEventType(o.type) && o.type !== fixed.type) {
    errors.push({ path: 'type', message: `type ${JSON.stringify(fixed.type)} is not the original's ${JSON.stringify(o.type)}` });
  }
  return errors;
}

/** Closes a record: the new state, the history line, and the TTL that starts only now. */
export function close(
  record: TriageRecord,
  state: 'replayed' | 'fixed' | 'discarded',
  entry: Omit<HistoryEntry, 'at'>,
  extra: Partial<Pick<TriageRecord, 'fix' | 'replay' | 'discard'>>,
  ctx: { now: number; retentionMs: number },
): TriageRecord {
  const { claim: _claim, ...rest } = record;
  return {
    ...rest,
    ...extra,
    state,
    updated_at: iso(ctx.now),
    expire_at: iso(ctx.now + ctx.retentionMs),
    history: [...record.history, { at: iso(ctx.now), ...entry }],
  };
}

/** True when `record` passes `filter` (ages against `now`). */
export function matches(record: TriageRecord, filter: RecordFilter, now: number): boolean {
  if (filter.class && !filter.class.includes(record.class)) return false;
  if (filter.state && !filter.state.includes(record.state)) return false;
  if (filter.type !== undefined && record.event.type !== filter.type) return false;
  if (filter.source !== undefined && record.event.source !== filter.source) return false;
  if (filter.subscription !== undefined && record.subscription !== filter.subscription) return false;
  const age = (now - Date.parse(record.received_at)) / 60_000;
  if (filter.older_than_minutes !== undefined && age < filter.older_than_minutes) return false;
  if (filter.newer_than_minutes !== undefined && age > filter.newer_than_minutes) return false;
  if (filter.q !== undefined && !record.reason.toLowerCase().includes(filter.q.toLowerCase())) return false;
  return true;
}

export interface Stats {
  total: number;
  by_class: Record<string, number>;
  by_state: Record<string, number>;
  by_subscription: Record<string, number>;
  by_type: Record<string, number>;
}

/** Stats keys outside the known values: a record without one, and one the manifest or catalog does not know. */
export const STATS_NONE = '(none)';
export const STATS_UNKNOWN_TYPE = '(unknown)';
export const STATS_OTHER = '(other)';

/**
 * The values stats count records by: the manifest's subscriptions and the catalog's event types
 * (everything else is `(other)`), so a store can count each with an aggregation query instead of
 * reading every record.
 */
export interface StatsDomain {
  readonly class: readonly TriageClass[];
  readonly state: readonly TriageState[];
  readonly subscription: readonly string[];
  readonly type: readonly string[];
}

export function statsDomain(topology: SubscriptionManifest): StatsDomain {
  return { class: TriageClass.options, state: TriageState.options, subscription: topology.subscriptions.map((s) => s.name), type: eventTypes };
}

/** The stats key of a record's subscription and type. */
export function statsKeys(r: TriageRecord, domain: StatsDomain): { subscription: string; type: string } {
  return {
    subscription: r.subscription === '' ? STATS_NONE : domain.subscription.includes(r.subscription) ? r.subscription : STATS_OTHER,
    type: r.event.type === undefined ? STATS_UNKNOWN_TYPE : domain.type.includes(r.event.type) ? r.event.type : STATS_OTHER,
  };
}

export function emptyStats(): Stats {
  return { total: 0, by_class: {}, by_state: {}, by_subscription: {}, by_type: {} };
}

export function addToStats(stats: Stats, r: TriageRecord, domain: StatsDomain): Stats {
  const inc = (m: Record<string, number>, k: string) => {
    m[k] = (m[k] ?? 0) + 1;
  };
  const keys = statsKeys(r, domain);
  stats.total += 1;
  inc(stats.by_class, r.class);
  inc(stats.by_state, r.state);
  inc(stats.by_subscription, keys.subscription);
  inc(stats.by_type, keys.type);
  return stats;
}

/**
 * Stats from counts (an aggregation query each): `total`, and per dimension the count of each
 * known value; what the known values leave of the total is `(other)`. Zero counts are left out,
 * as {@link addToStats} never makes them.
 */
export function statsFromCounts(total: number, counts: { [K in keyof StatsDomain]: ReadonlyArray<readonly [string, number]> }): Stats {
  const dimension = (pairs: ReadonlyArray<readonly [string, number]>, rest: boolean) => {
    const out: Record<string, number> = {};
    let sum = 0;
    for (const [k, n] of pairs) {
      sum += n;
      if (n > 0) out[k] = n;
    }
    if (rest && total - sum > 0) out[STATS_OTHER] = total - sum;
    return out;
  };
  return {
    total,
    by_class: dimension(counts.class, false),
    by_state: dimension(counts.state, false),
    by_subscription: dimension(counts.subscription, true),
    by_type: dimension(counts.type, true),
  };
}

/** The `dead_lettered` finding of a dead letter (DESIGN §4, §5). */
export function deadLetterFinding(record: TriageRecord): DeadLetterFinding {
  return {
    kind: 'dead_letter',
    action: 'dead_lettered',
    ...(record.event.id !== undefined ? { event_id: record.event.id } : {}),
    ...(record.event.type !== undefined ? { type: record.event.type } : {}),
    ...(record.event.source !== undefined ? { source: record.event.source } : {}),
    subscription: record.subscription,
    class: record.class === 'review' ? 'poison' : record.class,
    ...(record.delivery_count !== undefined ? { delivery_count: record.delivery_count } : {}),
    triage_id: record.id,
    reason: record.reason,
  };
}
