import { z } from 'zod';
import { FailureClass, FailureRecord } from '../../shared/failures';

/**
 * The wire shapes of dlq-triage (DESIGN §5): the triage record it stores per message, the audit
 * entries of operator actions, the bulk replay jobs, and the bodies of its HTTP API. One schema
 * per shape; the types come from them.
 */

export const TriageClass = z.enum([...FailureClass.options, 'review']);
export type TriageClass = z.infer<typeof TriageClass>;

export const TriageState = z.enum(['open', 'replayed', 'fixed', 'discarded']);
export type TriageState = z.infer<typeof TriageState>;

/** A Pub/Sub message as kept: base64 data and its attributes. */
export const KeptMessage = z.object({
  data: z.string(),
  attributes: z.record(z.string(), z.string()),
});
export type KeptMessage = z.infer<typeof KeptMessage>;

export const HistoryEntry = z.object({
  at: z.iso.datetime(),
  action: z.string(),
  by: z.string().optional(),
  note: z.string().optional(),
});
export type HistoryEntry = z.infer<typeof HistoryEntry>;

export const TriageRecord = z.object({
  id: z.string().min(1),
  /** `dead_letter`: a copy from the dead-letters topic; `invalid`: the deduplicator's record of an event that failed validation, on events-invalid; `review`: a finding held for review. */
  origin: z.enum(['dead_letter', 'invalid', 'review']),
  class: TriageClass,
  state: TriageState,
  /** The manifest subscription that failed the message: the only consumer a replay goes to. */
  subscription: z.string(),
  /** The topic of that subscription, where a replay is published. */
  topic: z.string(),
  /** The message triage received (the dead-lettered copy, or the events-invalid message). */
  received: KeptMessage.extend({ message_id: z.string(), publish_time: z.string().optional() }),
  /** The producer's message: what a replay republishes. */
  original: KeptMessage,
  delivery_count: z.int().nonnegative().optional(),
  /** The recorded failure in one sentence, or "no reason recorded". */
  reason: z.string(),
  failure: FailureRecord.optional(),
  /** The validation errors, for `invalid` records. */
  errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  event: z.object({ id: z.string().optional(), type: z.string().optional(), source: z.string().optional() }),
  /** For `review` records: the finding held for review, as published. */
  finding: z.record(z.string(), z.unknown()).optional(),
  /** A fix: the payload that was replayed in place of the original, which stays beside it. */
  fix: KeptMessage.extend({ at: z.iso.datetime(), by: z.string() }).optional(),
  replay: z.object({ message_id: z.string(), at: z.iso.datetime(), by: z.string(), job: z.string().optional() }).optional(),
  /** A replay in flight: held until `until` so that two operators never publish one record twice. */
  claim: z.object({ id: z.string(), until: z.iso.datetime() }).optional(),
  discard: z.object({ reason: z.string(), at: z.iso.datetime(), by: z.string() }).optional(),
  received_at: z.iso.datetime(),
  updated_at: z.iso.datetime(),
  /** Set only once the record is closed (replayed, fixed, discarded): the TTL field. */
  expire_at: z.iso.datetime().optional(),
  history: z.array(HistoryEntry),
});
export type TriageRecord = z.infer<typeof TriageRecord>;

/** What the deduplicator publishes to events-invalid (functions/deduplicator/handler.ts, routeInvalid). */
export const InvalidEventMessage = z.object({
  reason: z.string(),
  errors: z.array(z.object({ path: z.string(), message: z.string() })).default([]),
  message: z.object({
    message_id: z.string(),
    publish_time: z.string().optional(),
    attributes: z.record(z.string(), z.string()).default({}),
    data: z.string(),
  }),
});

export const AuditEntry = z.object({
  id: z.string(),
  at: z.iso.datetime(),
  actor: z.string(),
  action: z.enum(['replay', 'fix', 'discard', 'bulk_replay', 'bulk_replay_stop']),
  outcome: z.enum(['ok', 'skipped', 'rejected', 'failed']),
  record_id: z.string().optional(),
  job_id: z.string().optional(),
  detail: z.string().optional(),
  before: TriageRecord.optional(),
  after: TriageRecord.optional(),
});
export type AuditEntry = z.infer<typeof AuditEntry>;

const csv = <T extends z.ZodType>(item: T) =>
  z.preprocess((v) => (typeof v === 'string' ? v.split(',').filter((s) => s !== '') : v), z.array(item).min(1)).optional();

/** List filters, as query parameters or a bulk replay's filter. Ages are in minutes. */
export const RecordFilter = z.strictObject({
  class: csv(TriageClass),
  state: csv(TriageState),
  type: z.string().optional(),
  source: z.string().optional(),
  subscription: z.string().optional(),
  older_than_minutes: z.coerce.number().nonnegative().optional(),
  newer_than_minutes: z.coerce.number().nonnegative().optional(),
  /** Text in the reason, case-insensitive. */
  q: z.string().optional(),
});
export type RecordFilter = z.infer<typeof RecordFilter>;

/**
 * The ids this API hands out (records, audit entries, jobs: digits, letters, `-`, `_`), as a
 * path segment or a page token: anything else names nothing, and must never reach Firestore,
 * which reads a `/` as a path and reserves `.`, `..` and `__x__` (issue 20.7).
 */
export const DOCUMENT_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,255}$/;
export const PageToken = z.string().regex(DOCUMENT_ID, { message: 'not a page token this API gave out' });

export const ListQuery = RecordFilter.extend({
  page_size: z.coerce.number().int().min(1).max(500).default(50),
  page_token: PageToken.optional(),
});
export type ListQuery = z.infer<typeof ListQuery>;

export const FixBody = z.union([
  z.strictObject({ patch: z.record(z.string(), z.unknown()), dry_run: z.boolean().optional() }),
  z.strictObject({ event: z.record(z.string(), z.unknown()), dry_run: z.boolean().optional() }),
]);
export type FixBody = z.infer<typeof FixBody>;

export const DiscardBody = z.strictObject({ reason: z.string().trim().min(3) });

export const BulkReplayBody = z.strictObject({
  filter: RecordFilter.default({}),
  rate_per_second: z.number().positive().max(1000).default(50),
  dry_run: z.boolean().default(false),
});
export type BulkReplayBody = z.infer<typeof BulkReplayBody>;

export const BulkJob = z.object({
  id: z.string(),
  filter: RecordFilter,
  rate_per_second: z.number().positive(),
  state: z.enum(['running', 'stopped', 'done']),
  /** Open records that matched when the job was created. */
  total: z.int().nonnegative(),
  /** The last record id processed, in id order: where a resumed run starts. */
  cursor: z.string().optional(),
  published: z.int().nonnegative(),
  skipped: z.int().nonnegative(),
  failed: z.int().nonnegative(),
  last_error: z.string().optional(),
  created_by: z.string(),
  created_at: z.iso.datetime(),
  updated_at: z.iso.datetime(),
});
export type BulkJob = z.infer<typeof BulkJob>;

export const RunBody = z.strictObject({ max_records: z.int().positive().max(10_000).default(500), max_seconds: z.number().positive().max(60).default(20) });
