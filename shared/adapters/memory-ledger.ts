import type { LedgerEntry, OutcomeLedger } from '../ports';

/** The outcome ledger in memory, for tests and embedded runs. */
export class MemoryOutcomeLedger implements OutcomeLedger {
  readonly entries = new Map<string, LedgerEntry>();

  private key(rule: string, eventId: string): string {
    return JSON.stringify([rule, eventId]);
  }

  async get(rule: string, eventId: string): Promise<LedgerEntry | undefined> {
    return this.entries.get(this.key(rule, eventId));
  }

  async record(rule: string, eventId: string, entry: LedgerEntry): Promise<LedgerEntry> {
    const key = this.key(rule, eventId);
    const existing = this.entries.get(key);
    if (existing) return existing;
    this.entries.set(key, entry);
    return entry;
  }

  async markPublished(rule: string, eventId: string): Promise<void> {
    const key = this.key(rule, eventId);
    const existing = this.entries.get(key);
    if (existing) this.entries.set(key, { ...existing, published: true });
  }
}
