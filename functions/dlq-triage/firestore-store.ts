import { FieldPath, Timestamp, type CollectionReference, type DocumentData, type Firestore } from '@google-cloud/firestore';
import { AuditEntry, BulkJob, TriageRecord } from './records';
import type { Change, ScanQuery, TriageStore } from './store';

const ALREADY_EXISTS = 6;

/**
 * The triage store in Firestore. Each document keeps the record as JSON text (exactly what was
 * stored, no type mapping) beside the fields queries use; `expireAt` (the TTL policy's field)
 * is written only once a record is closed, so an open record never expires. Audit entries and
 * jobs have their own collections; audit entries are kept (no TTL) as long as the records are.
 */
export class FirestoreTriageStore implements TriageStore {
  private readonly records: CollectionReference;
  private readonly audits: CollectionReference;
  private readonly jobs: CollectionReference;

  constructor(
    private readonly firestore: Firestore,
    collectionPrefix = 'dlq-triage',
  ) {
    this.records = firestore.collection(`${collectionPrefix}-records`);
    this.audits = firestore.collection(`${collectionPrefix}-audit`);
    this.jobs = firestore.collection(`${collectionPrefix}-jobs`);
  }

  private static doc(record: TriageRecord): DocumentData {
    return {
      record: JSON.stringify(record),
      class: record.class,
      state: record.state,
      subscription: record.subscription,
      ...(record.expire_at ? { expireAt: Timestamp.fromDate(new Date(record.expire_at)) } : {}),
    };
  }

  private static parse(data: DocumentData | undefined, id: string): TriageRecord {
    const parsed = TriageRecord.safeParse(typeof data?.record === 'string' ? JSON.parse(data.record) : undefined);
    if (!parsed.success) throw new Error(`triage record ${id} is unreadable: ${parsed.error.issues[0]?.message ?? ''}`);
    return parsed.data;
  }

  async create(record: TriageRecord): Promise<'created' | 'exists'> {
    try {
      await this.records.doc(record.id).create(FirestoreTriageStore.doc(record));
      return 'created';
    } catch (err) {
      if ((err as { code?: unknown }).code === ALREADY_EXISTS) return 'exists';
      throw err;
    }
  }

  async get(id: string): Promise<TriageRecord | undefined> {
    const snap = await this.records.doc(id).get();
    return snap.exists ? FirestoreTriageStore.parse(snap.data(), id) : undefined;
  }

  async update(id: string, change: (current: TriageRecord) => TriageRecord | undefined): Promise<Change> {
    const ref = this.records.doc(id);
    return this.firestore.runTransaction(async (tx) => {
      const snap = await tx.get(ref);
      if (!snap.exists) return { before: undefined, after: undefined };
      const before = FirestoreTriageStore.parse(snap.data(), id);
      const after = change(structuredClone(before));
      if (after) tx.set(ref, FirestoreTriageStore.doc(after));
      return { before, after };
    });
  }

  async scan(query: ScanQuery): Promise<TriageRecord[]> {
    let q = this.records.orderBy(FieldPath.documentId());
    if (query.states) q = q.where('state', 'in', [...query.states]);
    if (query.after !== undefined) q = q.startAfter(query.after);
    const snap = await q.limit(query.limit).get();
    return snap.docs.map((d) => FirestoreTriageStore.parse(d.data(), d.id));
  }

  async audit(entry: AuditEntry): Promise<void> {
    await this.audits.doc(entry.id).create({ entry: JSON.stringify(entry), record_id: entry.record_id ?? null });
  }

  async auditLog(query: { after?: string; limit: number; recordId?: string }): Promise<AuditEntry[]> {
    let q = this.audits.orderBy(FieldPath.documentId());
    if (query.recordId !== undefined) q = q.where('record_id', '==', query.recordId);
    if (query.after !== undefined) q = q.startAfter(query.after);
    const snap = await q.limit(query.limit).get();
    return snap.docs.map((d) => AuditEntry.parse(JSON.parse(d.data().entry as string)));
  }

  async saveJob(job: BulkJob): Promise<void> {
    await this.jobs.doc(job.id).set({ job: JSON.stringify(job) });
  }

  async getJob(id: string): Promise<BulkJob | undefined> {
    const snap = await this.jobs.doc(id).get();
    return snap.exists ? BulkJob.parse(JSON.parse(snap.data()!.job as string)) : undefined;
  }
}
