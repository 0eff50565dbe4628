import type { AuditEntry, BulkJob, TriageRecord, TriageState } from './records';

export interface ScanQuery {
  /** Records with an id after this one (ids sort oldest first). */
  readonly after?: string;
  readonly limit: number;
  readonly states?: readonly TriageState[];
}

/** A change of one record: what it was, what it became (`undefined` after when nothing changed). */
export interface Change {
  readonly before: TriageRecord | undefined;
  readonly after: TriageRecord | undefined;
}

/**
 * Where dlq-triage keeps its records, its operators' audit trail and its bulk replay jobs.
 * `update` is a compare-and-set: `change` sees the current record and returns the next one (or
 * undefined to leave it), atomically, so two operators never both act on one record.
 */
export interface TriageStore {
  create(record: TriageRecord): Promise<'created' | 'exists'>;
  get(id: string): Promise<TriageRecord | undefined>;
  update(id: string, change: (current: TriageRecord) => TriageRecord | undefined): Promise<Change>;
  scan(query: ScanQuery): Promise<TriageRecord[]>;
  audit(entry: AuditEntry): Promise<void>;
  auditLog(query: { after?: string; limit: number; recordId?: string }): Promise<AuditEntry[]>;
  saveJob(job: BulkJob): Promise<void>;
  getJob(id: string): Promise<BulkJob | undefined>;
}

/** The store in memory: tests, and a stack without Firestore. */
export class MemoryTriageStore implements TriageStore {
  readonly records = new Map<string, TriageRecord>();
  readonly audits: AuditEntry[] = [];
  readonly jobs = new Map<string, BulkJob>();

  async create(record: TriageRecord): Promise<'created' | 'exists'> {
    if (this.records.has(record.id)) return 'exists';
    this.records.set(record.id, structuredClone(record));
    return 'created';
  }

  async get(id: string): Promise<TriageRecord | undefined> {
    const r = this.records.get(id);
    return r ? structuredClone(r) : undefined;
  }

  async update(id: string, change: (current: TriageRecord) => TriageRecord | undefined): Promise<Change> {
    const current = this.records.get(id);
    if (!current) return { before: undefined, after: undefined };
    const next = change(structuredClone(current));
    if (next) this.records.set(id, structuredClone(next));
    return { before: structuredClone(current), after: next };
  }

  async scan(query: ScanQuery): Promise<TriageRecord[]> {
    return [...this.records.keys()]
      .sort()
      .filter((id) => query.after === undefined || id > query.after)
      .map((id) => this.records.get(id)!)
      .filter((r) => !query.states || query.states.includes(r.state))
      .slice(0, query.limit)
      .map((r) => structuredClone(r));
  }

  async audit(entry: AuditEntry): Promise<void> {
    this.audits.push(structuredClone(entry));
  }

  async auditLog(query: { after?: string; limit: number; recordId?: string }): Promise<AuditEntry[]> {
    return this.audits
      .filter((a) => (query.after === undefined || a.id > query.after) && (query.recordId === undefined || a.record_id === query.recordId))
      .sort((a, b) => (a.id < b.id ? -1 : 1))
      .slice(0, query.limit);
  }

  async saveJob(job: BulkJob): Promise<void> {
    this.jobs.set(job.id, structuredClone(job));
  }

  async getJob(id: string): Promise<BulkJob | undefined> {
    const j = this.jobs.get(id);
    return j ? structuredClone(j) : undefined;
  }
}
