import type { Row, Table } from '@google-cloud/bigtable';
import { z } from 'zod';
import { cellIs } from '../../shared/adapters/bigtable';
import type { BusinessEvent } from '../../shared/events/envelope';
import { TransientError } from '../../shared/errors';
import { chainKeys } from './chains';
import { ChainDocument, chainDocumentOf, changedChainDocument, chainDocumentKey, OutboxRecord, type SlotRecord } from './records';
import { digest, parseStored } from './stored';
import type { ChainLog, GapStateContext, OperationCounts, OutboxMessage } from './store';
import { chainTransition, sweepTransition } from './transitions';

/** The column family of the chains table (shared/topology.json: `gap-chains`, family `c`). */
export const CHAIN_FAMILY = 'c';
/** A chain row's document column; its outbox markers are `o<message id>`. */
const DOC = 'd';
const MARKER = 'o';
/** An index row's message column (outbox rows). */
const MESSAGE = 'm';
/** Conflicting attempts of one step before it gives up (and the delivery is retried), as the Firestore store. */
const ATTEMPTS = 8;
/**
 * An index entry whose writer has not committed for this long is a writer that died between its
 * two calls: no request runs this long (a function's timeout is its subscriptions' ack deadline,
 * 120 s for gap-detector: infra/modules/topology).
 */
const DEAD_WRITER_MS = 60 * 60_000;

/**
 * Chain documents a deployment kept in Firestore before its chains moved to a chain log: read
 * through while they last (`GAP_CHAINS_FROM_FIRESTORE`), so that chains open at the upgrade are
 * neither lost nor reported wrongly.
 */
export interface EarlierChains {
  /** The slots of these documents (by document key) where an earlier one holds any. */
  read(documentKeys: readonly string[]): Promise<Map<string, SlotRecord[]>>;
  /** Keys of earlier documents with a due time before the watermark, earliest first. */
  due(watermarkMs: number, limit: number): Promise<string[]>;
  /** Removes earlier documents once the chain log holds their slots. */
  forget(documentKeys: readonly string[]): Promise<void>;
}

/** The stored document: the Firestore store's, with the row's version and the version that set its due time. */
const StoredDocument = ChainDocument.extend({ version: z.number().int().positive(), dueVersion: z.number().int().nonnegative() });
type StoredDocument = z.infer<typeof StoredDocument>;
const StoredMessage = OutboxRecord.extend({ id: z.string().min(1), row: z.string().min(1), version: z.number().int().positive() });

/** A chain row as read: its document's exact bytes (the condition of the next write), version 0 where it has none yet. */
interface Held {
  readonly row: string;
  readonly bytes: Buffer | undefined;
  readonly doc: StoredDocument;
  /** Outbox markers: message id → the outbox row of the commit that wrote it. */
  readonly markers: ReadonlyMap<string, string>;
  /** The document key, where the row was read by it. */
  readonly documentKey?: string;
  /** Its slots came from an earlier Firestore document of this key (the row has none yet). */
  readonly seeded?: boolean;
}

type Cells = Record<string, Array<{ value: Buffer; timestamp: unknown }>>;

/** Non-negative ms as fixed-width digits, so that row keys sort by time. */
const at = (ms: number) => String(Math.max(0, Math.floor(ms))).padStart(16, '0');
const chainRow = (documentKey: string) => `c#${digest(documentKey)}`;
const dueRow = (dueMs: number, row: string) => `d#${at(dueMs)}#${row}`;
const outboxRow = (writtenAtMs: number, id: string, version: number) => `o#${at(writtenAtMs)}#${id}#${version}`;

/**
 * gap-detector's chain state in Bigtable (`STATE_STORE=bigtable`), which bills provisioned nodes by
 * the hour, not operations (https://cloud.google.com/bigtable/pricing): a chain step that
 * cost a Firestore read and write costs node time here. The layout, in one table:
 *
 * - `c#<digest(document key)>`: one row per card and per lead, as the Firestore store's documents
 *   (records.ts, `chainDocumentKey`). Column `d` holds the document with a version, written by
 *   CheckAndMutateRow on the condition that it is still exactly the bytes read (or absent): a
 *   single-row transaction (https://cloud.google.com/bigtable/docs/writes), so of concurrent steps
 *   one commits and the others read again. Every write replaces the cell, and the version only
 *   grows (an emptied document is written empty, never deleted), so the bytes never repeat.
 * - The messages a step causes are committed with it: written just before it, an outbox row
 *   `o#<written at>#<id>#<version>` with the message; in the same mutation as the document, a
 *   marker column `o<id>` in the chain row naming that outbox row. An outbox row is a message to
 *   publish only while its chain row's marker names it: a commit that lost its race leaves one
 *   that is not (removed when the tick reads it; a chain row past its version never names it),
 *   and a published message's row and marker are removed together.
 * - `d#<due ms>#<chain row>`: the due-time index the sweep scans in time order, a column
 *   `v<version>` per document version that set that due time, written before the commit that sets
 *   it and removed after the one that moves it. An entry is live while its document still has
 *   that due time from that version; an older one is stale (removed by the sweep that reads it),
 *   a newer one belongs to a writer still at work.
 *
 * Bigtable has no transaction across rows: a `lead.created` with a card changes its card's row
 * and then its lead's, each conditionally. The messages of the step go with the first commit;
 * a crash before the second leaves the first done, and the redelivery finds that slot settled
 * (a step applied twice changes nothing: transitions.ts) and commits the second.
 *
 * Upgrading from chains in Firestore (`earlier`, GAP_CHAINS_FROM_FIRESTORE): a row that has no
 * document yet starts from the Firestore document of its key, if one is left, which is deleted
 * once the row holds its slots; the sweep also takes the Firestore documents that fell due and
 * moves them here first. A crash between the row's commit and the deletion leaves a document
 * that is never read again (the row exists), deleted when the sweep meets it.
 *
 * Expiry: a GC policy by max age (Terraform, from GAP_STATE_RETENTION_HOURS) removes rows no
 * write has touched for the retention; nothing here relies on it running
 * (https://cloud.google.com/bigtable/docs/garbage-collection).
 */
export class BigtableChainLog implements ChainLog {
  readonly counts: OperationCounts = { reads: 0, writes: 0, deletes: 0 };
  /** Where each message this instance committed or found waits: its outbox row and its chain row. */
  private readonly located = new Map<string, Array<{ row: string; outbox: string }>>();

  constructor(
    private readonly table: Table,
    /** Chain documents kept in Firestore before the chains moved here, read through while they last. */
    private readonly earlier?: EarlierChains,
  ) {}

  async apply(event: BusinessEvent, timeMs: number, watermarkMs: number, payload: string | undefined, ctx: GapStateContext): Promise<OutboxMessage[]> {
    const keys = chainKeys(event);
    if (keys.length === 0) return [];
    const documents = [...new Set(keys.map(chainDocumentKey))];
    const committed: OutboxMessage[] = [];
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const held = await this.readDocuments(documents);
      const slotOf = (key: string) => held.get(chainRow(chainDocumentKey(key)))!.doc.slots.find((s) => s.key === key);
      const { changes, outbox } = chainTransition(new Map(keys.map((k) => [k, slotOf(k)])), event, timeMs, watermarkMs, payload, ctx);
      const writes = documents.flatMap((d) => {
        const h = held.get(chainRow(d))!;
        const next = changedChainDocument(h.doc.slots, new Map([...changes].filter(([key]) => chainDocumentKey(key) === d)));
        return next === undefined ? [] : [{ held: h, slots: next?.slots ?? [] }];
      });
      // A message comes of a changed slot; should one come alone, its document carries it unchanged.
      if (writes.length === 0 && outbox.length > 0) writes.push({ held: held.get(chainRow(documents[0]!))!, slots: held.get(chainRow(documents[0]!))!.doc.slots });
      let carry = outbox;
      let lost = false;
      for (const w of writes) {
        if (!(await this.commit(w.held, w.slots, carry, ctx))) {
          lost = true;
          break;
        }
        committed.push(...carry);
        carry = [];
      }
      if (!lost) return unique(committed);
    }
    throw new TransientError(`gap-detector chain state stayed contended over ${ATTEMPTS} attempts`, 'STATE_CONTENDED');
  }

  async sweep(watermarkMs: number, ctx: GapStateContext, limit: number): Promise<{ swept: number; messages: OutboxMessage[] }> {
    const [entries] = await this.table.getRows({ ranges: [{ start: 'd#', end: { value: `d#${at(watermarkMs)}`, inclusive: false } }], limit, decode: false });
    this.counts.reads += Math.max(1, entries.length);
    // `d#<16 digits>#<chain row>`
    const index = entries.map((r) => ({ key: idOf(r), due: idOf(r).slice(2, 18), row: idOf(r).slice(19), versions: versionCells(r) }));
    const held = await this.read([...new Set(index.map((e) => e.row))]);
    const stale: Array<{ key: string; method: 'delete'; data: string[] }> = [];
    const due = new Set<string>();
    for (const e of index) {
      const h = held.get(e.row)!;
      for (const v of e.versions) {
        const live = h.doc.dueMs !== null && at(h.doc.dueMs) === e.due && h.doc.dueVersion === v.version;
        if (live) due.add(e.row);
        else if (v.version <= h.doc.version || v.writtenAtMs < ctx.now - DEAD_WRITER_MS) stale.push({ key: e.key, method: 'delete', data: [`${CHAIN_FAMILY}:v${v.version}`] });
      }
    }
    if (stale.length > 0) {
      await this.table.mutate(stale);
      this.counts.deletes += stale.length;
    }
    const messages: OutboxMessage[] = [];
    for (const row of due) messages.push(...(await this.sweepRow(held.get(row)!, watermarkMs, ctx)));
    if (this.earlier === undefined) return { swept: entries.length, messages };
    const earlier = await this.earlier.due(watermarkMs, limit);
    for (const key of earlier) {
      const h = (await this.readDocuments([key])).get(chainRow(key))!;
      // A document whose row was committed before it could be deleted: the row decides.
      if (!h.seeded) await this.earlier.forget([key]);
      else messages.push(...(await this.sweepRow(h, watermarkMs, ctx)));
    }
    return { swept: entries.length + earlier.length, messages };
  }

  async pendingOutbox(writtenBeforeMs: number, limit: number): Promise<OutboxMessage[]> {
    const [rows] = await this.table.getRows({ ranges: [{ start: 'o#', end: { value: `o#${at(writtenBeforeMs + 1)}`, inclusive: false } }], limit, decode: false });
    this.counts.reads += Math.max(1, rows.length);
    const waiting = rows.map((r) => ({ key: idOf(r), m: parseStored(StoredMessage, JSON.parse(cellsOf(r)[MESSAGE]![0]!.value.toString('utf8')), `${this.table.id}/${idOf(r)}`) }));
    const held = await this.read([...new Set(waiting.map((w) => w.m.row))]);
    const pending: OutboxMessage[] = [];
    const gone: Array<{ key: string; method: 'delete' }> = [];
    for (const { key, m } of waiting) {
      const h = held.get(m.row)!;
      if (h.markers.get(m.id) === key) {
        pending.push({ id: m.id, to: m.to, data: m.data, attributes: m.attributes });
        this.locate(m.id, m.row, key);
      } else if (m.version <= h.doc.version || m.writtenAtMs < writtenBeforeMs - DEAD_WRITER_MS) {
        // Its commit lost (or it was published and its marker removed): never to be published from here.
        gone.push({ key, method: 'delete' });
      }
    }
    if (gone.length > 0) {
      await this.table.mutate(gone);
      this.counts.deletes += gone.length;
    }
    return pending;
  }

  async deleteOutbox(ids: readonly string[]): Promise<string[]> {
    const others: string[] = [];
    const removals: Array<{ key: string; method: 'delete'; data?: string[] }> = [];
    for (const id of ids) {
      const places = this.located.get(id);
      if (places === undefined) {
        others.push(id);
        continue;
      }
      this.located.delete(id);
      for (const p of places) removals.push({ key: p.outbox, method: 'delete' }, { key: p.row, method: 'delete', data: [`${CHAIN_FAMILY}:${MARKER}${id}`] });
    }
    if (removals.length > 0) {
      await this.table.mutate(removals);
      this.counts.deletes += removals.length;
    }
    return others;
  }

  /** Reports what in one chain row fell due, reading it again while another step changes it. */
  private async sweepRow(first: Held, watermarkMs: number, ctx: GapStateContext): Promise<OutboxMessage[]> {
    let held = first;
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      if (attempt > 0) held = first.documentKey === undefined ? (await this.read([first.row])).get(first.row)! : (await this.readDocuments([first.documentKey])).get(first.row)!;
      const changes = new Map<string, SlotRecord | null>();
      const outbox: OutboxMessage[] = [];
      for (const slot of held.doc.slots) {
        const result = sweepTransition(slot, watermarkMs, ctx);
        if (result.changed) changes.set(slot.key, result.record);
        outbox.push(...result.outbox);
      }
      const next = changedChainDocument(held.doc.slots, changes);
      // A document moved from Firestore is committed here even unchanged, so that it is not met again.
      if (next === undefined && outbox.length === 0 && !held.seeded) return [];
      if (await this.commit(held, next === undefined ? held.doc.slots : (next?.slots ?? []), outbox, ctx)) return outbox;
    }
    throw new TransientError(`gap-detector chain state stayed contended over ${ATTEMPTS} attempts`, 'STATE_CONTENDED');
  }

  /**
   * Writes a chain row's next document and the step's messages, on the condition that the row is
   * as read; says whether it did. The outbox rows and a new due time's index entry go first (they
   * mean nothing until this commit names them); the entry of the due time it replaces goes after.
   */
  private async commit(held: Held, slots: readonly SlotRecord[], outbox: readonly OutboxMessage[], ctx: GapStateContext): Promise<boolean> {
    const version = held.doc.version + 1;
    const { dueMs } = chainDocumentOf([...slots]);
    const moved = dueMs !== held.doc.dueMs;
    const doc: StoredDocument = { slots: [...slots], dueMs, version, dueVersion: moved ? version : held.doc.dueVersion };
    type Entry = { key: string; method: 'insert'; data: Record<string, Record<string, { value: string; timestamp: number }>> };
    const before: Entry[] = outbox.map((m) => ({
      key: outboxRow(ctx.now, m.id, version),
      method: 'insert' as const,
      data: { [CHAIN_FAMILY]: { [MESSAGE]: { value: JSON.stringify({ ...m, writtenAtMs: ctx.now, row: held.row, version }), timestamp: -1 } } },
    }));
    if (moved && dueMs !== null) before.push({ key: dueRow(dueMs, held.row), method: 'insert', data: { [CHAIN_FAMILY]: { [`v${version}`]: { value: '1', timestamp: -1 } } } });
    if (before.length > 0) {
      await this.table.mutate(before);
      this.counts.writes += before.length;
    }
    const set = {
      method: 'insert',
      data: { [CHAIN_FAMILY]: { [DOC]: { value: Buffer.from(JSON.stringify(doc)), timestamp: -1 }, ...Object.fromEntries(outbox.map((m) => [`${MARKER}${m.id}`, { value: outboxRow(ctx.now, m.id, version), timestamp: -1 }])) } },
    };
    const row = this.table.row(held.row);
    const [matched] =
      held.bytes === undefined
        ? await row.filter([{ family: CHAIN_FAMILY }, { column: DOC }], { onNoMatch: [set] })
        : await row.filter(cellIs(CHAIN_FAMILY, DOC, held.bytes), { onMatch: [{ method: 'delete', data: [`${CHAIN_FAMILY}:${DOC}`] }, set] });
    this.counts.reads++;
    const wrote = held.bytes === undefined ? matched !== true : matched === true;
    if (!wrote) return false;
    this.counts.writes++;
    for (const m of outbox) this.locate(m.id, held.row, outboxRow(ctx.now, m.id, version));
    if (held.seeded) await this.earlier!.forget([held.documentKey!]);
    if (moved && held.doc.dueMs !== null) {
      // The sweep removes it where this does not (a crash here): it is stale from now on.
      await this.table.mutate([{ key: dueRow(held.doc.dueMs, held.row), method: 'delete', data: [`${CHAIN_FAMILY}:v${held.doc.dueVersion}`] }]);
      this.counts.deletes++;
    }
    return true;
  }

  private locate(id: string, row: string, outbox: string): void {
    const places = this.located.get(id) ?? [];
    if (!places.some((p) => p.outbox === outbox)) places.push({ row, outbox });
    this.located.set(id, places);
  }

  /** Chain rows by document key (keyed by row), each as held now; one without a document yet from its earlier Firestore document, if any. */
  private async readDocuments(documentKeys: readonly string[]): Promise<Map<string, Held>> {
    const rows = await this.read(documentKeys.map(chainRow));
    const absent: string[] = [];
    for (const key of documentKeys) {
      const h = rows.get(chainRow(key))!;
      rows.set(h.row, { ...h, documentKey: key });
      if (h.bytes === undefined) absent.push(key);
    }
    if (this.earlier === undefined || absent.length === 0) return rows;
    for (const [key, slots] of await this.earlier.read(absent)) {
      // Nothing of it is indexed here yet: its due time is written with its first commit.
      const h = rows.get(chainRow(key))!;
      rows.set(h.row, { ...h, doc: { ...h.doc, slots }, seeded: true });
    }
    return rows;
  }

  /** Chain rows by key, each as held now (an absent one as empty, at version 0). */
  private async read(rows: readonly string[]): Promise<Map<string, Held>> {
    const held = new Map<string, Held>(rows.map((row) => [row, { row, bytes: undefined, doc: { slots: [], dueMs: null, version: 0, dueVersion: 0 }, markers: new Map() }]));
    if (rows.length === 0) return held;
    const [found] = await this.table.getRows({ keys: [...rows], decode: false });
    this.counts.reads += rows.length;
    for (const r of found) {
      const id = idOf(r);
      const cells = cellsOf(r);
      const bytes = cells[DOC]?.[0]?.value;
      const markers = new Map(
        Object.entries(cells)
          .filter(([column]) => column.startsWith(MARKER))
          .map(([column, c]) => [column.slice(MARKER.length), c[0]!.value.toString('utf8')]),
      );
      if (bytes === undefined) {
        held.set(id, { ...held.get(id)!, markers });
        continue;
      }
      held.set(id, { row: id, bytes, doc: parseStored(StoredDocument, JSON.parse(bytes.toString('utf8')), `${this.table.id}/${id}`), markers });
    }
    return held;
  }
}

/** A row's key as text: read with `decode: false`, the client hands it as bytes. */
function idOf(row: Row): string {
  const id: unknown = row.id;
  return Buffer.isBuffer(id) ? id.toString('utf8') : String(id);
}

function cellsOf(row: Row): Cells {
  return ((row.data as Record<string, Cells | undefined>)[CHAIN_FAMILY] ?? {}) as Cells;
}

/** An index row's entries: the versions that set its due time, and when each was written (the cell's server time). */
function versionCells(row: Row): Array<{ version: number; writtenAtMs: number }> {
  return Object.entries(cellsOf(row))
    .filter(([column]) => column.startsWith('v'))
    .map(([column, cells]) => ({ version: Number(column.slice(1)), writtenAtMs: Math.floor(Number(String(cells[0]!.timestamp)) / 1000) }));
}

function unique(messages: readonly OutboxMessage[]): OutboxMessage[] {
  const seen = new Set<string>();
  return messages.filter((m) => !seen.has(m.id) && seen.add(m.id) !== undefined);
}
