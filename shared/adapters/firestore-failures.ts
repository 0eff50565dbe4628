import { Timestamp, type CollectionReference, type Firestore } from '@google-cloud/firestore';
import { z } from 'zod';
import { FailureRecord, mergeFailure, type FailureReport, type FailureStore } from '../failures';
import { derivedId } from '../ids';

/**
 * Failure records in Firestore, one document per failure key (a digest: keys hold `/`-free
 * characters but may be long), merged in a transaction so concurrent failing deliveries count
 * every attempt. `expireAt` is the field of a TTL policy: a failure nobody dead-letters is
 * forgotten after the retention.
 */
const ALREADY_EXISTS = 6;

export class FirestoreFailureStore implements FailureStore {
  private readonly collection: CollectionReference;

  constructor(
    private readonly firestore: Firestore,
    collectionName = 'dlq-failures',
  ) {
    this.collection = firestore.collection(collectionName);
  }

  private ref(key: string) {
    return this.collection.doc(derivedId('failure', key));
  }

  async record(report: FailureReport, expireAtMs: number): Promise<void> {
    const ref = this.ref(report.key);
    await this.firestore.runTransaction(async (tx) => {
      const snap = await tx.get(ref);
      const existing = snap.exists ? this.parse(snap.data()) : undefined;
      tx.set(ref, { record: JSON.stringify(mergeFailure(existing, report)), expireAt: Timestamp.fromMillis(expireAtMs) });
    });
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
    const snap = await this.ref(key).get();
    return snap.exists ? this.parse(snap.data()) : undefined;
  }

  private parse(data: Record<string, unknown> | undefined): FailureRecord | undefined {
    if (typeof data?.record !== 'string') return undefined;
    const parsed = FailureRecord.safeParse(JSON.parse(data.record));
    // An unreadable record is no reason at all, never a crash of the failing function or of triage.
    if (!parsed.success) return undefined;
    return parsed.data;
  }
}

export const FailureStoreEnv = {
  FAILURE_COLLECTION: z.string().min(1).default('dlq-failures'),
  FAILURE_RETENTION_DAYS: z.coerce.number().positive().default(30),
};
