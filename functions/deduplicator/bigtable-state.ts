import { createHash, randomUUID } from 'node:crypto';
import type { Instance, Table } from '@google-cloud/bigtable';
import { z } from 'zod';
import { cellIs, type TableSpec } from '../../shared/adapters/bigtable';
import { TransientError } from '../../shared/errors';
import { topology } from '../../shared/topology';
import { faultPoint } from '../../shared/fault-inject';
import { claimRecord, judgeHeldKey, NAME, type Candidate, type DedupKey, type HeldKey, type Judgement } from './core';
import type { DedupContext, DedupStore } from './state';

/** The deduplicator's table in the manifest (shared/topology.json): its name is the default of DEDUP_TABLE. */
export const DEDUP_TABLE: TableSpec = (() => {
  const spec = topology.functions.find((f) => f.name === NAME)?.bigtable?.[0];
  if (spec === undefined || spec.families.length !== 1) throw new Error(`shared/topology.json: ${NAME} needs one Bigtable table of one column family`);
  return spec;
})();
/** The column family, and the column of a row's claim. */
const FAMILY = DEDUP_TABLE.families[0]!;
const COLUMN = 'r';
/**
 * The column a claim's commit sets on its primary row, named by the claim's token: it stays when
 * the row's claim column later changes hands, so the claim's other rows still read as committed.
 * `c` and a UUID: never matched by the claim column's filter (`r`).
 */
const committedColumn = (token: string) => `c${token}`;
/** Claims lost to a concurrent delivery, per key, before this one gives up (and the message is redelivered). */
const CLAIM_ATTEMPTS = 10;
/** How long a delivery waits for another delivery's pending claim of a key (about 1.5 s in all) before it is redelivered. */
const DEFAULT_POLLS_MS: readonly number[] = [50, 100, 200, 400, 800];

/** What a row holds: one claim of one delivery (one call of judgeAndClaim, named by `claim`). */
const StoredClaim = z.strictObject({
  eventId: z.string(),
  eventTimeMs: z.number(),
  ingestId: z.string(),
  leaseUntil: z.number(),
  state: z.enum(['pending', 'committed']),
  /** The claim's own random token: a row is this claim's exactly when its value is this claim's. */
  claim: z.string(),
  /** The row key of the claim's primary row (its id key), on every other row of the claim. */
  primary: z.string().optional(),
});
type StoredClaim = z.infer<typeof StoredClaim>;

/** A row as read: its claim, its exact bytes (the condition of a write that replaces it) and its cell's timestamp. */
interface Cell {
  readonly row: string;
  readonly claim: StoredClaim;
  readonly bytes: Buffer;
  readonly stamp: number;
}

/** A row this claim holds pending, and the committed record it held before (put back if the claim is released). */
interface Claimed extends Cell {
  readonly previous: Cell | undefined;
}

/** What a held row counts for, and the primary row to abort before taking over a claim still pending there. */
interface Resolved {
  readonly held: HeldKey;
  readonly abortPrimary?: Cell;
}

export interface BigtableDedupOptions {
  /** Waits between looks at a key that another delivery holds pending (tests shorten them). */
  readonly pollsMs?: readonly number[];
}

/**
 * Deduplicator state in Cloud Bigtable: a row per key (id, business key, content), keyed by a
 * digest of `basis:key` as the Firestore store names its documents. Bigtable bills provisioned
 * nodes, not operations (https://cloud.google.com/bigtable/pricing), so every key has its own row:
 * the Firestore store's trick of keeping the content key inside the business key's document (to save
 * a billed write) is not needed.
 *
 * Bigtable is atomic per row only: no transaction spans rows, and a conditional write
 * (CheckAndMutateRow) applies its mutations to one row depending on a filter over that row
 * (https://cloud.google.com/bigtable/docs/writes, "Conditional writes"). Firestore claims all of an
 * event's keys in one atomic batch; here a delivery claims them one by one, and a claim of several
 * rows is made atomic by one row of it, as Percolator does (Peng & Dabek, OSDI 2010):
 * - Claim the keys in rule order (id, business key, content), each with a conditional write that
 *   applies only when the row holds nothing: a **pending** claim (`DedupRecord` + the claim's random
 *   token; the rows after the first name the first, the claim's **primary** row). A fixed order of
 *   the bases means two deliveries never wait on each other in a cycle.
 * - A row another claim holds is read and judged (`judgeHeldKey`, core.ts; the first held key decides,
 *   as `judge` decides over the whole list, since the keys before it were free):
 *   - committed, another event within the window → a duplicate: this claim's rows are released
 *     (only where a row still holds this claim's exact bytes: a row taken over from a committed
 *     record gets it back, e.g. a record beyond this event's window that other events may still
 *     meet within theirs; any other row is deleted, never given back an aborted claim, which its
 *     stalled delivery could then commit) and the judgement returned;
 *   - pending, of another delivery, within its lease → it may still turn out a duplicate and be
 *     released, so it does not count yet: look again a few times (about 1.5 s), then throw a
 *     TransientError (the message is redelivered). A pending claim is never counted as final;
 *   - this delivery's own (same ingest id and event id) within the lease → `in_flight`, as judge says;
 *   - a pending claim past its lease (its delivery died and has not come back), a pending row whose
 *     claim was never committed at its primary and the primary no longer holds it (**void**: that
 *     claim was aborted), a record beyond the window, this delivery's own past its lease → taken
 *     over with a write conditional on the exact bytes read (a lost race reads again). A pending
 *     row of a claim that is still pending at its primary is taken over only after the primary is
 *     aborted (its claim deleted, conditional on its bytes).
 * - All keys claimed → **commit**: one conditional write of the primary row, applied only while it
 *   still holds this claim, rewrites its claim `committed` and sets a **commit column** named by
 *   the claim's token (`c<token>`). That one write decides the claim: from then on every row of it
 *   counts as committed and no one can abort it. Had another delivery aborted it (this one stalled
 *   past its lease, taken for dead), the write fails: the other rows are released and the delivery
 *   is redelivered (TransientError). Otherwise `accept` is returned and the handler publishes.
 * - The other rows are not rewritten: they stay pending, and a reader resolves a pending row
 *   through its primary (`resolve`): the commit column there says committed. The column stays when
 *   the primary's claim column later changes hands (a same-id event beyond the window takes it
 *   over; every write compares and replaces the claim column only), so such a row never reads as
 *   void. That saves a conditional write per key after the first (issue 21: 4 calls for a
 *   first arrival with three keys, where it was 6) and costs a read of the primary where another
 *   event meets one of those rows.
 * Without the primary, a delivery that stalled past its lease could commit rows that another event
 *   had meanwhile taken over, and both would be accepted. A crash between the claim and the commit
 *   leaves pending rows that this message's redelivery takes over (it is not acked: its own claim,
 *   past the lease) or that another event takes over after the lease.
 *
 * Expiry: Bigtable collects old cells by the column family's max-age garbage-collection rule, which
 * Terraform sets from the manifest's `maxAge` of the table: the window (DEDUP_WINDOW_HOURS), the
 * lease (DEDUP_LEASE_SECONDS) and a margin of an hour. A cell is stamped with the later of the claim's time and the event's (the Firestore store's
 * `expireAt` counts from the same), so nothing is collected while a delivery within the window of
 * its event can still meet it. Correctness never depends on it: collection is lazy ("Until the data
 * is deleted, it appears in read results", https://cloud.google.com/bigtable/docs/garbage-collection),
 * and the rules' window check ignores a record too old to count, as it does in Firestore before TTL
 * deletes it.
 *
 * A row holds one claim cell: every write deletes the claim column's cells and sets the new one in
 * the same atomic mutation, so the value a condition compares with is the row's whole claim. A
 * primary row also holds the commit columns of the claims committed there.
 */
export class BigtableDedupStore implements DedupStore {
  private readonly table: Table;
  private readonly pollsMs: readonly number[];

  constructor(instance: Instance, tableName = DEDUP_TABLE.table, options: BigtableDedupOptions = {}) {
    this.table = instance.table(tableName);
    this.pollsMs = options.pollsMs ?? DEFAULT_POLLS_MS;
  }

  /** The row key of a dedup key: any key text becomes a fixed-length key that spreads over the table. */
  rowKey(key: DedupKey): string {
    return createHash('sha256').update(`${key.basis}:${key.key}`).digest('base64url');
  }

  async judgeAndClaim(candidate: Candidate, ctx: DedupContext): Promise<Judgement> {
    const rows = candidate.keys.map((k) => this.rowKey(k));
    const token = randomUUID();
    const record = claimRecord(candidate, ctx);
    // Cell timestamps: milliseconds in microseconds (Bigtable rejects finer ones), from the time
    // the collection rule counts from (the class comment, Expiry).
    const stamp = Math.floor(Math.max(ctx.now, candidate.timeMs)) * 1000;
    const value = (i: number, state: StoredClaim['state']) =>
      encode({ ...record, state, claim: token, ...(i === 0 ? {} : { primary: rows[0]! }) });
    const claimed: Claimed[] = [];
    let takeover = false;
    try {
      for (let i = 0; i < rows.length; i++) {
        const mine = value(i, 'pending');
        let expected: Cell | undefined;
        /** What `expected` counted for when it was judged: a row of another claim may be pending and committed at its primary. */
        let expectedState: HeldKey['state'] | undefined;
        let races = 0;
        let polls = 0;
        for (;;) {
          if (await this.write(rows[i]!, expected?.bytes, mine, stamp)) {
            // Only a committed record is given back on release (committed in its row, or at its
            // primary): a pending one taken over was an aborted claim, and putting its bytes back
            // would let its stalled delivery commit it.
            const previous = expectedState === 'committed' ? expected : undefined;
            claimed.push({ row: rows[i]!, claim: decode(mine), bytes: mine, stamp, previous });
            faultPoint('mid-claim');
            break;
          }
          const cell = await this.read(rows[i]!);
          if (cell === undefined) {
            expected = undefined; // released meanwhile: claim it as free
          } else {
            const resolved = await this.resolve(cell);
            const decision = judgeHeldKey(candidate, i, resolved.held, ctx);
            if (decision.kind === 'duplicate' || decision.kind === 'in_flight') {
              await this.release(claimed);
              return decision;
            }
            if (decision.kind === 'wait') {
              if (polls >= this.pollsMs.length) {
                throw new TransientError('another delivery holds a key of this event pending', 'CLAIM_PENDING', { eventId: candidate.event.id });
              }
              await sleep(this.pollsMs[polls++]!);
              expected = undefined;
              continue;
            }
            if (resolved.abortPrimary !== undefined && !(await this.remove(resolved.abortPrimary))) {
              expected = undefined; // the primary changed meanwhile (committed, or taken over): look again
            } else {
              takeover ||= decision.takeover;
              expected = cell;
              expectedState = resolved.held.state;
            }
          }
          if (++races >= CLAIM_ATTEMPTS) {
            throw new TransientError('the keys kept changing under concurrent deliveries', 'CLAIM_CONTENDED', { eventId: candidate.event.id });
          }
        }
      }
    } catch (err) {
      await this.release(claimed).catch(() => undefined); // otherwise they expire with the lease
      throw err;
    }
    const [primary, ...others] = claimed;
    if (!(await this.write(primary!.row, primary!.bytes, value(0, 'committed'), stamp, committedColumn(token)))) {
      await this.release(others);
      throw new TransientError('the claim was taken over while it was pending (past its lease)', 'CLAIM_ABORTED', { eventId: candidate.event.id });
    }
    // The other rows stay pending: they read as committed through the primary's commit column.
    return { kind: 'accept', takeover };
  }

  /** What a held row counts for: a pending row of another row's claim is what that claim is at its primary. */
  private async resolve(cell: Cell): Promise<Resolved> {
    const { claim } = cell;
    const record = { eventId: claim.eventId, eventTimeMs: claim.eventTimeMs, ingestId: claim.ingestId, leaseUntil: claim.leaseUntil };
    if (claim.state === 'committed' || claim.primary === undefined) return { held: { record, state: claim.state } };
    const primary = await this.readRow(claim.primary);
    if (primary.columns?.[committedColumn(claim.claim)] !== undefined) return { held: { record, state: 'committed' } };
    const at = primary.cell;
    if (at === undefined || at.claim.claim !== claim.claim) return { held: { record, state: 'void' } };
    // Committed there without a commit column: a row written before the column existed.
    if (at.claim.state === 'committed') return { held: { record, state: 'committed' } };
    return { held: { record, state: 'pending' }, abortPrimary: at };
  }

  private async read(row: string): Promise<Cell | undefined> {
    return (await this.readRow(row)).cell;
  }

  /** A row's claim (its claim column's cell), and all its columns (a primary's commit columns among them). */
  private async readRow(row: string): Promise<{ cell: Cell | undefined; columns: Record<string, unknown> | undefined }> {
    const [rows] = await this.table.getRows({ keys: [row], decode: false });
    const columns = (rows[0]?.data as Record<string, Record<string, Array<{ value: Buffer; timestamp: unknown }>>> | undefined)?.[FAMILY];
    const cell = columns?.[COLUMN]?.[0];
    if (cell === undefined) return { cell: undefined, columns };
    // int64 micros: a number, or a Long, whose decimal text is the same number (below 2^53 until year 2255).
    return { cell: { row, claim: decode(cell.value), bytes: cell.value, stamp: Number(String(cell.timestamp)) }, columns };
  }

  /**
   * Writes `value` as the row's claim when its claim is exactly `expected` (or none, when `expected`
   * is undefined), atomically (CheckAndMutateRow); says whether it wrote. `committed`: a commit
   * column set in the same mutation. Only the claim column is compared and replaced: commit
   * columns of earlier claims stay.
   */
  private async write(row: string, expected: Buffer | undefined, value: Buffer, stamp: number, committed?: string): Promise<boolean> {
    const set = {
      method: 'insert',
      data: { [FAMILY]: { [COLUMN]: { value, timestamp: stamp }, ...(committed === undefined ? {} : { [committed]: { value: Buffer.from('1'), timestamp: stamp } }) } },
    };
    if (expected === undefined) {
      const [matched] = await this.table.row(row).filter([{ family: FAMILY }, { column: COLUMN }], { onNoMatch: [set] });
      return matched !== true;
    }
    const replace = [{ method: 'delete', data: [`${FAMILY}:${COLUMN}`] }, set];
    const [matched] = await this.table.row(row).filter(cellIs(FAMILY, COLUMN, expected), { onMatch: replace });
    return matched === true;
  }

  /** Deletes the row's claim when it is exactly the cell's bytes (commit columns stay); says whether it did. */
  private async remove(cell: Cell): Promise<boolean> {
    const [matched] = await this.table.row(cell.row).filter(cellIs(FAMILY, COLUMN, cell.bytes), { onMatch: [{ method: 'delete', data: [`${FAMILY}:${COLUMN}`] }] });
    return matched === true;
  }

  /**
   * Gives up rows this claim holds pending (only where they still hold it): a row taken over from
   * a committed record is given it back (a record beyond this event's window, which another event
   * may still meet within its own), any other row is deleted.
   */
  private async release(claimed: readonly Claimed[]): Promise<void> {
    await Promise.all(claimed.map((c) => (c.previous === undefined ? this.remove(c) : this.write(c.row, c.bytes, c.previous.bytes, c.previous.stamp))));
  }
}

function encode(claim: StoredClaim): Buffer {
  return Buffer.from(JSON.stringify(claim));
}

function decode(bytes: Buffer): StoredClaim {
  const parsed = StoredClaim.safeParse(JSON.parse(bytes.toString('utf8')));
  if (!parsed.success) throw new Error(`deduplicator: a dedup-keys row holds no claim: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
