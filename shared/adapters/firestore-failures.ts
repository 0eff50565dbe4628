import { Timestamp, type CollectionReference, type Firestore } from '@google-cloud/firestore';
import { z } from 'zod';
import { FailureRecord, FailureReport, mergeFailure, type FailureStore } from '../failures';
import { derivedId } from '../ids';

/**
 * Failure records in Firestore: one document per failed attempt, created once and never
 * rewritten (`<collection>/<digest of key, message and time>`: its failure key, its report and
 * `expireAt`), folded into the record triage reads by `mergeFailure`, oldest first. No transaction:
 * the server client libraries' transactions lock the documents they read until they commit or
 * time out (https://firebase.google.com/docs/firestore/transaction-data-contention), so an
 * instance killed inside one (the fault suite kills an instance whatever its other requests are
 * doing) held the key's one document, and every later attempt of that message failed to record
 * (ABORTED: Transaction lock timeout, about 18 s each on the emulator) until it was dead-lettered
 * with no reason; concurrent attempts contended on it too. `expireAt` is the field of a TTL
 * policy: a failure nobody dead-letters is forgotten after the retention. A record written as one
 * merged document per key (before 2026-12-07) is read as the attempts before these.
 */
const ALREADY_EXISTS = 6;

export class FirestoreFailureStore implements FailureStore {
  private readonly collection: CollectionReference;

  constructor(firestore: Firestore, collectionName = 'dlq-failures') {
    this.collection = firestore.collection(collectionName);
  }

  /** The one merged document of a key, as records were written before 2026-12-07. */
  private merged(key: string) {
    return this.collection.doc(derivedId('failure', key));
  }

  async record(report: FailureReport, expireAtMs: number): Promise<void> {
    // Named by the attempt, so a create the client sends again (a retried RPC) is the same attempt.
    const ref = this.collection.doc(derivedId('attempt', `${report.key}\n${report.message_id}\n${report.at}`));
    try {
      await ref.create({ key: report.key, at: report.at, report: JSON.stringify(report), expireAt: Timestamp.fromMillis(expireAtMs) });
    } catch (err) {
      if ((err as { code?: unknown }).code !== ALREADY_EXISTS) throw err;
    }
  }

  /** One document per replay key, created by its first message: `create` is the atomic test-and-set. */
  async admitReplay(key: string, messageId: string, expireAtMs: number): Promise<boolean> {
    const ref = this.collection.doc(derivedId('replay', key));
    try {
      await ref.create({ replay: key, message_id: messageId, expireAt: Timestamp.fromMillis(expireAtMs) });
      return true;
    } catch (err) {
      if ((err as { code?: unknown }).code !== ALREADY_EXISTS) throw err;
    }
    const snap = await ref.get();
    return snap.get('message_id') === messageId;
  }

  async get(key: string): Promise<FailureRecord | undefined> {
    const [merged, attempts] = await Promise.all([this.merged(key).get(), this.collection.where('key', '==', key).get()]);
    const reports = attempts.docs
      .map((d) => parseJson(FailureReport, d.get('report')))
      .filter((r): r is FailureReport => r !== undefined)
      .sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
    return reports.reduce<FailureRecord | undefined>((record, r) => mergeFailure(record, r), merged.exists ? parseJson(FailureRecord, merged.get('record')) : undefined);
  }
}

/** A stored JSON text as `schema` says, or undefined: an unreadable record is no reason at all, never a crash of the failing function or of triage. */
function parseJson<S extends z.ZodType>(schema: S, text: unknown): z.infer<S> | undefined {
  if (typeof text !== 'string') return undefined;
  try {
    const parsed = schema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

export const FailureStoreEnv = {
  FAILURE_COLLECTION: z.string().min(1).default('dlq-failures'),
  FAILURE_RETENTION_DAYS: z.coerce.number().positive().default(30),
};
