import { mergeFailure, type FailureRecord, type FailureReport, type FailureStore } from '../failures';

/** Failure records in memory: for tests and the embedded runs. */
export class MemoryFailureStore implements FailureStore {
  readonly records = new Map<string, FailureRecord>();
  readonly replays = new Map<string, string>();

  async record(report: FailureReport, _expireAtMs?: number): Promise<void> {
    this.records.set(report.key, mergeFailure(this.records.get(report.key), report));
  }

  async get(key: string): Promise<FailureRecord | undefined> {
    return this.records.get(key);
  }

  async admitReplay(key: string, messageId: string, _expireAtMs?: number): Promise<boolean> {
    const first = this.replays.get(key);
    if (first === undefined) this.replays.set(key, messageId);
    return first === undefined || first === messageId;
  }
}
