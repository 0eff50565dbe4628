import { FieldPath, FieldValue, Timestamp, type CollectionReference, type DocumentData, type Firestore, type Query } from '@google-cloud/firestore';
import { AuditEntry, BulkJob, TriageRecord } from './records';
import { countFields, type Change, type CountQuery, type ScanQuery, type TriageStore, type Versioned } from './store';

const ALREADY_EXISTS = 6;
const NOT_FOUND = 5;
const FAILED_PRECONDITION = 9;
/** Read-modify-write attempts before a contended update gives up (a transient fault: the caller retries). */
const UPDATE_ATTEMPTS = 10;

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

  /** The document of a record; `update` also clears an `expireAt` the record no longer has. */
  private static doc(record: TriageRecord, update = false): DocumentData {
    return {
      record: JSON.stringify(record),
      // The fields queries and counts compare (store.ts countFields).
      ...countFields(record),
      ...(record.expire_at ? { expireAt: Timestamp.fromDate(new Date(record.expire_at)) } : update ? { expireAt: FieldValue.delete() } : {}),
    };
  }

  private static version(t: Timestamp): string {
    return `${t.seconds}.${String(t.nanoseconds).padStart(9, '0')}`;
  }

  private static timestamp(version: string): Timestamp {
    const [s, n] = version.split('.');
    return new Timestamp(Number(s), Number(n));
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

  private static auditDoc(entry: AuditEntry): DocumentData {
    return { entry: JSON.stringify(entry), record_id: entry.record_id ?? null };
  }

  async get(id: string): Promise<TriageRecord | undefined> {
    const snap = await this.records.doc(id).get();
    return snap.exists ? FirestoreTriageStore.parse(snap.data(), id) : undefined;
  }

  /**
   * Compare-and-set by optimistic concurrency: read, then write only if the document is still the
   * one read (`lastUpdateTime`), again on a conflict; with `known` (a scan's read) the first try
   * writes without reading. No locks held, and the write time returned is the version
   * {@link replaceIf} fences on.
   */
  async update(id: string, change: (current: TriageRecord) => TriageRecord | undefined, known?: Versioned): Promise<Change> {
    const ref = this.records.doc(id);
    for (let attempt = 1; ; attempt++) {
      let current: Versioned | undefined = attempt === 1 ? known : undefined;
      if (!current) {
        const snap = await ref.get();
        if (!snap.exists) return { before: undefined, after: undefined };
        current = { record: FirestoreTriageStore.parse(snap.data(), id), version: FirestoreTriageStore.version(snap.updateTime!) };
      }
      const before = current.record;
      const after = change(structuredClone(before));
      if (!after) {
        if (current === known) continue; // the scan's copy may be stale: decide on a fresh read
        return { before, after: undefined };
      }
      try {
        const written = await ref.update(FirestoreTriageStore.doc(after, true), { lastUpdateTime: FirestoreTriageStore.timestamp(current.version) });
        return { before, after, version: FirestoreTriageStore.version(written.writeTime) };
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        // FAILED_PRECONDITION: changed since read; NOT_FOUND: gone since the scan read it.
        if (code === NOT_FOUND && current === known) continue;
        if (code !== FAILED_PRECONDITION || attempt >= UPDATE_ATTEMPTS) throw err;
      }
    }
  }

  async replaceIf(id: string, version: string, next: TriageRecord, audit?: AuditEntry): Promise<boolean> {
    const batch = this.firestore.batch();
    batch.update(this.records.doc(id), FirestoreTriageStore.doc(next, true), { lastUpdateTime: FirestoreTriageStore.timestamp(version) });
    if (audit) batch.create(this.audits.doc(audit.id), FirestoreTriageStore.auditDoc(audit));
    try {
      await batch.commit();
      return true;
    } catch (err) {
      if ((err as { code?: unknown }).code === FAILED_PRECONDITION) return false;
      throw err;
    }
  }

  async scan(query: ScanQuery): Promise<Versioned[]> {
    let q = this.records.orderBy(FieldPath.documentId());
    if (query.states) q = q.where('state', 'in', [...query.states]);
    if (query.after !== undefined) q = q.startAfter(query.after);
    const snap = await q.limit(query.limit).get();
    return snap.docs.map((d) => ({ record: FirestoreTriageStore.parse(d.data(), d.id), version: FirestoreTriageStore.version(d.updateTime) }));
  }

  async count(query: CountQuery): Promise<number> {
    let q: Query = this.records;
    const oneOf = (field: string, values: readonly string[]) => (values.length === 1 ? q.where(field, '==', values[0]) : q.where(field, 'in', [...values]));
    if (query.class) q = oneOf('class', query.class);
    if (query.state) q = oneOf('state', query.state);
    if (query.subscription !== undefined) q = q.where('subscription', '==', query.subscription);
    if (query.type !== undefined) q = q.where('type', '==', query.type);
    const snap = await q.count().get();
    return snap.data().count;
  }

  async audit(entry: AuditEntry): Promise<void> {
    await this.audits.doc(entry.id).create(FirestoreTriageStore.auditDoc(entry));
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
