import { z } from 'zod';

/** How triage classes a message (DESIGN §5). */
export const FailureClass = z.enum(['invalid', 'transient', 'poison']);
export type FailureClass = z.infer<typeof FailureClass>;

/**
 * One failed delivery as the failing function saw it; the shared boundary builds it before the
 * handler answers non-2xx. `TransientError`s (and their subclasses) and the gRPC and network
 * faults of the moment (`isTransient`, shared/errors) are `transient`; anything else thrown is a
 * bug or an unexpected input, `poison`.
 */
export const FailureReport = z.object({
  key: z.string().min(1),
  function: z.string().min(1),
  subscription: z.string().min(1),
  message_id: z.string(),
  event_id: z.string().optional(),
  class: FailureClass,
  error_class: z.string(),
  code: z.string().optional(),
  message: z.string(),
  context: z.record(z.string(), z.unknown()).optional(),
  cause: z.string().optional(),
  at: z.iso.datetime(),
});
export type FailureReport = z.infer<typeof FailureReport>;

/** The stored failure record: the last report, how many attempts failed, and when the first one did. */
export const FailureRecord = FailureReport.omit({ at: true }).extend({
  attempts: z.int().positive(),
  first_at: z.iso.datetime(),
  last_at: z.iso.datetime(),
});
export type FailureRecord = z.infer<typeof FailureRecord>;

/** Merges a report into what is recorded under its key: pure, the one rule for both adapters. */
export function mergeFailure(existing: FailureRecord | undefined, report: FailureReport): FailureRecord {
  const { at, ...rest } = report;
  if (!existing) return { ...rest, attempts: 1, first_at: at, last_at: at };
  const attempts = existing.attempts + 1;
  const first_at = existing.first_at < at ? existing.first_at : at;
  // A bug fails the same way every time: a fault of the moment on a later attempt does not hide it.
  const kept = existing.class === 'poison' && rest.class !== 'poison' ? existing : rest;
  return { ...kept, attempts, first_at, last_at: at };
}

/**
 * The boundary's store: where failures wait for triage (`record` may fail: the boundary then still
 * throws the original error), and which delivery of a triage replay a subscription handles.
 */
export interface FailureStore {
  record(report: FailureReport, expireAtMs: number): Promise<void>;
  get(key: string): Promise<FailureRecord | undefined>;
  /**
   * True when the message `messageId` may be handled as the replay `key` (subscription + the
   * replay's `replay_of`): the first message seen under it, or a redelivery of that same message.
   * False for another message under the same key: a second publish of one replay.
   */
  admitReplay(key: string, messageId: string, expireAtMs: number): Promise<boolean>;
}
