import type { AuditEntry, BulkJob, TriageClass, TriageRecord, TriageState } from './records';

export interface ScanQuery {
  /** Records with an id after this one (ids sort oldest first). */
  readonly after?: string;
  readonly limit: number;
  readonly states?: readonly TriageState[];
}

/**
 * Records to count: each field an equality (a list: any of). `subscription` '' is a record of no
 * subscription, `type` '' one whose event type could not be read.
 */
export interface CountQuery {
  readonly class?: readonly TriageClass[];
  readonly state?: readonly TriageState[];
  readonly subscription?: string;
  readonly type?: string;
}

/** What {@link CountQuery} compares of a record. */
export function countFields(r: TriageRecord): { class: TriageClass; state: TriageState; subscription: string; type: string } {
  return { class: r.class, state: r.state, subscription: r.subscription, type: r.event.type ?? '' };
}

/** A record as read, with the version a fenced write ({@link TriageStore.update}'s `known`) compares. */
export interface Versioned {
  readonly record: TriageRecord;
  readonly version: string;
}

/**
 * A change of one record: what it was, what it became (`undefined` after when nothing changed),
 * and, when it was written, the version it was written as (for {@link TriageStore.replaceIf}).
 */
export interface Change {
  readonly before: TriageRecord | undefined;
  readonly after: TriageRecord | undefined;
  readonly version?: string;
}

/**
 * Where dlq-triage keeps its records, its operators' audit trail and its bulk replay jobs.
 * `update` is a compare-and-set: `change` sees the current record and returns the next one (or
 * undefined to leave it), atomically, so two operators never both act on one record.
 */
export interface TriageStore {
  create(record: TriageRecord): Promise<'created' | 'exists'>;
  get(id: string): Promise<TriageRecord | undefined>;
  /** `known`: the record as a scan read it; tried first, so an unchanged record costs one write and no read. */
  update(id: string, change: (current: TriageRecord) => TriageRecord | undefined, known?: Versioned): Promise<Change>;
  /**
   * A fenced transition: writes `next` (and `audit`, in the same atomic write) only if the record
   * is still the version an earlier `update` wrote; false when anything changed it since. One
   * write, no read: the close of a claimed replay.
   */
  replaceIf(id: string, version: string, next: TriageRecord, audit?: AuditEntry): Promise<boolean>;
  scan(query: ScanQuery): Promise<Versioned[]>;
  /** How many records match, without reading them (Firestore: an aggregation query). */
  count(query: CountQuery): Promise<number>;
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
  private readonly versions = new Map<string, number>();
  private written = 0;

  async create(record: TriageRecord): Promise<'created' | 'exists'> {
    if (this.records.has(record.id)) return 'exists';
    this.records.set(record.id, structuredClone(record));
    return 'created';
  }

  async get(id: string): Promise<TriageRecord | undefined> {
    const r = this.records.get(id);
    return r ? structuredClone(r) : undefined;
  }

  async update(id: string, change: (current: TriageRecord) => TriageRecord | undefined, _known?: Versioned): Promise<Change> {
    const current = this.records.get(id);
    if (!current) return { before: undefined, after: undefined };
    const next = change(structuredClone(current));
    if (!next) return { before: structuredClone(current), after: undefined };
    this.records.set(id, structuredClone(next));
    this.versions.set(id, ++this.written);
    return { before: structuredClone(current), after: next, version: String(this.written) };
  }

  async replaceIf(id: string, version: string, next: TriageRecord, audit?: AuditEntry): Promise<boolean> {
    if (!this.records.has(id) || String(this.versions.get(id) ?? 0) !== version) return false;
    this.records.set(id, structuredClone(next));
    this.versions.set(id, ++this.written);
    if (audit) this.audits.push(structuredClone(audit));
    return true;
  }

  async scan(query: ScanQuery): Promise<Versioned[]> {
    return [...this.records.keys()]
      .sort()
      .filter((id) => query.after === undefined || id > query.after)
      .map((id) => this.records.get(id)!)
      .filter((r) => !query.states || query.states.includes(r.state))
      .slice(0, query.limit)
      .map((r) => ({ record: structuredClone(r), version: String(this.versions.get(r.id) ?? 0) }));
  }

  async count(query: CountQuery): Promise<number> {
    let n = 0;
    for (const r of this.records.values()) {
      const f = countFields(r);
      if (query.class && !query.class.includes(f.class)) continue;
      if (query.state && !query.state.includes(f.state)) continue;
      if (query.subscription !== undefined && f.subscription !== query.subscription) continue;
      if (query.type !== undefined && f.type !== query.type) continue;
      n += 1;
    }
    return n;
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
