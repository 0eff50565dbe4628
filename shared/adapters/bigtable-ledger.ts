import type { Instance, Table } from '@google-cloud/bigtable';
import { derivedId } from '../ids';
import { parseOutcome } from '../outcome';
import type { LedgerEntry, OutcomeLedger } from '../ports';

/** The column family of the ledger's table (shared/topology.json). */
const FAMILY = 'o';

/** The filter that matches a recorded decision: the row's `outcome` cell. */
const RECORDED = [{ family: FAMILY }, { column: 'outcome' }];

/**
 * The outcome ledger in Bigtable: one row per (rule, event id). `record` is one CheckAndMutateRow
 * (atomic within its row, https://cloud.google.com/bigtable/docs/writes#conditional): it writes the
 * decision only when the row holds none, so of two deliveries deciding at once exactly one decision
 * stands and both publish it, as `create()` does in the Firestore ledger. The row is the unit of
 * atomicity, and a decision is one row. Expiry is the table's garbage-collection max age
 * (Terraform, from LEDGER_RETENTION_DAYS); garbage collection runs late, which only keeps a
 * decision longer than asked (https://cloud.google.com/bigtable/docs/garbage-collection). Bigtable
 * bills nodes, not operations: the ledger's read and write per checked event cost nothing more.
 */
export class BigtableOutcomeLedger implements OutcomeLedger {
  private readonly table: Table;

  constructor(instance: Instance, tableName = 'checker-outcomes') {
    this.table = instance.table(tableName);
  }

  private row(rule: string, eventId: string) {
    return this.table.row(derivedId(rule, eventId));
  }

  async get(rule: string, eventId: string): Promise<LedgerEntry | undefined> {
    const [rows] = await this.table.getRows({ keys: [derivedId(rule, eventId)], filter: [{ family: FAMILY }, { column: { cellLimit: 1 } }] });
    const cells = rows[0]?.data?.[FAMILY] as Record<string, Array<{ value: string | Buffer }>> | undefined;
    const outcomeCell = cells?.outcome?.[0];
    if (outcomeCell === undefined) return undefined;
    const parsed = parseOutcome(String(outcomeCell.value));
    if (!parsed.ok) throw new Error(`ledger entry for ${rule}/${eventId} is unreadable: ${parsed.reason}`);
    return { outcome: parsed.outcome, published: String(cells?.published?.[0]?.value ?? '') === '1' };
  }

  async record(rule: string, eventId: string, entry: LedgerEntry): Promise<LedgerEntry> {
    const [held] = await this.row(rule, eventId).filter(RECORDED, {
      onNoMatch: [{ method: 'insert', data: { [FAMILY]: { outcome: JSON.stringify(entry.outcome), published: entry.published ? '1' : '0', rule, event_id: eventId } } }],
    });
    if (!held) return entry;
    const standing = await this.get(rule, eventId);
    if (!standing) throw new Error(`ledger entry for ${rule}/${eventId} exists and vanished`);
    return standing;
  }

  async markPublished(rule: string, eventId: string): Promise<void> {
    // Only a recorded decision is marked: a row of a lone `published` cell would be no decision.
    await this.row(rule, eventId).filter(RECORDED, { onMatch: [{ method: 'insert', data: { [FAMILY]: { published: '1' } } }] });
  }
}
