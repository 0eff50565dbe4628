import { status } from '@grpc/grpc-js';
import { FieldValue, Timestamp, type CollectionReference, type DocumentData, type DocumentReference, type DocumentSnapshot, type Firestore } from '@google-cloud/firestore';
import type { z } from 'zod';
import type { BusinessEvent } from '../../shared/events/envelope';
import { TransientError } from '../../shared/errors';
import { faultPoint } from '../../shared/fault-inject';
import { chainKeys } from './chains';
import {
  changedChainDocument,
  chainDocumentExpiry,
  chainDocumentKey,
  chainSlots,
  OutboxRecord,
  retentionExpiry,
  StoredChainDocument,
  SourceRecord,
  type ChainDocument,
  type SlotRecord,
} from './records';
import { FirestoreMarkerLog } from './firestore-markers';
import { digest, parseStored } from './stored';
import type { EarlierChains } from './bigtable-chains';
import type { ChainLog, FoldOptions, GapStateContext, GapStore, LoggedMarker, MarkerLog, OperationCounts, OutboxMessage, RecordedWatermark, SequenceMarker } from './store';
import { chainTransition, foldLeased, foldThrottled, foldTransition, sweepTransition } from './transitions';

/** Firestore operations as billed: documents read (a query answering nothing still bills one), written, deleted. */
export type FirestoreCounts = OperationCounts;

/** The store's operations: Firestore's as billed, and the Bigtable rows of the marker and chain logs beside them (zero where those are in Firestore). */
export interface GapStoreCounts extends FirestoreCounts {
  readonly bigtable: OperationCounts;
}

/** Markers folded per transaction: with the source record and the outbox, well inside one commit's limits. */
const FOLD_BATCH = 300;
/** Commits one fold call may make before it leaves the rest to the next fold. */
const FOLD_ROUNDS = 20;
/** Conflicting attempts of one optimistic step before it gives up (and the delivery is retried). */
const OPTIMISTIC_ATTEMPTS = 8;
/** How long a fold's claim on a source keeps other (unforced) folds away. */
const FOLD_LEASE_MS = 10_000;

/**
 * gap-detector state in Firestore, built so that one busy source never funnels its deliveries
 * through one document:
 *
 * - the sequence markers, one per source and number, recorded by the delivery that carries the
 *   number and applied by a fold: `<prefix>-markers/<digest(source, seq)>` (firestore-markers.ts),
 *   or a Bigtable table (bigtable-markers.ts, `STATE_STORE=bigtable`: a node bills by the hour,
 *   not per marker). Firestore's markers are deleted in the fold's commit; Bigtable's after it
 *   (Bigtable has no transaction across rows, let alone with Firestore): the summary then keeps
 *   the numbers of the markers its fold read (`applied`), and the next fold skips those it finds
 *   again, so a crash between the commit and the removal applies nothing twice.
 * - `<prefix>-sources/<digest(source)>`: the source's summary, written only by a fold: lowest and
 *   highest number, the missing ranges (a jump of a billion is one range; at most
 *   `maxRangesPerSource`), the watermark it last used and the earliest open deadline. A fold
 *   reads the summary and up to 300 markers in arrival order, runs the core, and commits the
 *   new summary, the markers' deletion (Firestore's; Bigtable's right after) and any findings
 *   (to the outbox) in one batch on the precondition that the summary is unchanged: of concurrent folds one
 *   commits and the others stand down, so each marker is applied exactly once, and no lock is
 *   held while markers are read or created. A busy source's fold first claims the summary with
 *   a short lease (a write), so that concurrent folds stand down before reading its markers; a
 *   quiet source's does not (transitions.ts, `foldLeased`): one summary write per fold. Folds
 *   are paced to one per source per interval, so the summary sees well under one write a second
 *   however busy the source.
 * - `<prefix>-chains/<digest(document key)>`: the chain state of one card or one lead: per
 *   awaited successor (type and key), the upstreams waiting, whether the successor was seen, the
 *   upstreams already reported. A lead's two awaits (`crm.synced|<lead>`, `followup.sent|<lead>`)
 *   share its document (records.ts, `chainDocumentKey`), so an accepted event touches one
 *   document, or two for a `lead.created` with a card (its card's and its own): one read of them
 *   and one batch conditional on them being unchanged (read again on a conflict). Documents are
 *   per card or lead, so they never run hot. A document written before the grouping (one per
 *   await key) is read as a group of one and rewritten in this layout on its next change.
 *   With a chain log (bigtable-chains.ts, `STATE_STORE=bigtable`) the chains are kept there
 *   instead, with the messages their steps cause, and the outbox below holds the folds' alone.
 * - `<prefix>-watermark/<writer>`: each function instance raises its own record with the
 *   `maximum` transform (no read, no contention); the watermark is the highest record.
 * - `<prefix>-outbox/<message id>`: findings and retrigger messages written with the state change
 *   that caused them, deleted once published.
 *
 * Every document carries `expireAt` for a Firestore TTL policy.
 */
export class FirestoreGapStore implements GapStore {
  readonly counts: GapStoreCounts;
  private readonly markers: MarkerLog;
  /** The markers when they are in Firestore: deleted in the fold's own commit. */
  private readonly inCommit: FirestoreMarkerLog | undefined;
  private readonly sources: CollectionReference;
  private readonly chains: CollectionReference;
  private readonly watermarks: CollectionReference;
  private readonly outbox: CollectionReference;

  constructor(
    private readonly firestore: Firestore,
    prefix = 'gap-detector',
    /** Where the sequence markers are kept (default: this Firestore, `<prefix>-markers`). */
    markers?: MarkerLog,
    /** Where the chains are kept (default: this Firestore, `<prefix>-chains`). */
    private readonly chainLog?: ChainLog,
  ) {
    const own: FirestoreCounts = { reads: 0, writes: 0, deletes: 0 };
    this.inCommit = markers === undefined ? new FirestoreMarkerLog(firestore.collection(`${prefix}-markers`), own) : undefined;
    this.markers = markers ?? this.inCommit!;
    this.counts = Object.assign(own, { bigtable: sumOfCounts([markers?.counts, chainLog?.counts]) });
    this.sources = firestore.collection(`${prefix}-sources`);
    this.chains = firestore.collection(`${prefix}-chains`);
    this.watermarks = firestore.collection(`${prefix}-watermark`);
    this.outbox = firestore.collection(`${prefix}-outbox`);
  }

  recordSequence(marker: SequenceMarker, ctx: GapStateContext): Promise<'recorded' | 'repeat'> {
    return this.markers.record(marker, ctx);
  }

  async foldSource(source: string, watermarkMs: number, ctx: GapStateContext, options: FoldOptions): Promise<OutboxMessage[]> {
    const ref = this.sources.doc(digest(source));
    const published: OutboxMessage[] = [];
    // Markers read ahead and not yet applied, earliest first: a log that reads a source's markers in
    // one scan (Bigtable) is read again only once they are used up or a commit lost a race.
    // They hold only while the summary is as this fold left it: another fold's commit in between
    // may have applied some of them (its `applied` names only its last batch), so they are read again.
    let buffered: { markers: LoggedMarker[]; more: boolean } = { markers: [], more: true };
    let leftAt: Timestamp | undefined;
    for (let round = 0; round < FOLD_ROUNDS; round++) {
      const before = await ref.get();
      this.counts.reads++;
      if (leftAt === undefined || before.updateTime === undefined || !before.updateTime.isEqual(leftAt)) buffered = { markers: [], more: true };
      const record = before.exists ? parse(SourceRecord, before.data(), ref.path) : undefined;
      if (round === 0 && foldThrottled(record, ctx, options)) break;
      // A busy source's fold claims it with a short lease, so concurrent instances do not all
      // read the same markers to no end (foldLeased); every write below is conditional on the
      // summary being as read, lease or not.
      let version = before.updateTime;
      let leased = false;
      if (record !== undefined) {
        const lease: unknown = before.get('leaseUntilMs');
        if (!options.force && typeof lease === 'number' && lease > ctx.now) break;
        if (foldLeased(record)) {
          const claimed = await this.conditional(() => ref.update({ leaseUntilMs: ctx.now + FOLD_LEASE_MS }, { lastUpdateTime: before.updateTime! }));
          if (claimed === undefined) {
            if (options.force) continue;
            break;
          }
          this.counts.writes++;
          version = claimed.writeTime;
          leased = true;
        }
      }
      if (buffered.markers.length === 0) buffered = await this.markers.pending(source, this.markers.readAhead ?? FOLD_BATCH);
      const markers = buffered.markers.slice(0, FOLD_BATCH);
      const more = buffered.markers.length > FOLD_BATCH || buffered.more;
      const result = foldTransition(source, record, markers, watermarkMs, ctx, more, this.inCommit === undefined);
      if (result === undefined) {
        leftAt = version;
        if (leased) {
          const released = await this.conditional(() => ref.update({ leaseUntilMs: null }, { lastUpdateTime: version! }));
          if (released !== undefined) this.counts.writes++;
          leftAt = released?.writeTime;
        }
        // Markers the summary as read had applied already (a crash before their removal): applied, so removable.
        if (this.inCommit === undefined) await this.markers.remove(markers);
        buffered = { markers: buffered.markers.slice(markers.length), more: buffered.more };
        if (markers.length > 0 && more) continue;
        break;
      }
      const batch = this.firestore.batch();
      // The numbers a fold applied are kept only where its markers are removed after the commit; an earlier list goes.
      const applied = result.record.applied ?? (before.exists ? FieldValue.delete() : undefined);
      const doc = { ...result.record, ...(applied === undefined ? {} : { applied }), leaseUntilMs: null, expireAt: Timestamp.fromMillis(retentionExpiry(ctx)) };
      if (before.exists) batch.update(ref, doc, { lastUpdateTime: version! });
      else batch.create(ref, doc);
      this.inCommit?.deleteIn(batch, markers);
      for (const [outboxRef, data] of this.outboxDocs(result.outbox, ctx)) batch.set(outboxRef, data);
      const committed = await this.conditional(() => batch.commit());
      if (committed === undefined) {
        // Another fold won (a forced one, or after our lease ran out): these markers may be applied.
        leftAt = undefined;
        if (options.force) continue;
        break;
      }
      // The summary's write is the batch's first.
      leftAt = committed[0]!.writeTime;
      buffered = { markers: buffered.markers.slice(markers.length), more: buffered.more };
      this.counts.writes += 1 + result.outbox.length;
      if (this.inCommit !== undefined) {
        this.counts.deletes += markers.length;
      } else {
        // The summary is committed, the markers not yet removed: a crash here leaves them to the next fold, which skips them.
        faultPoint('after-state-write');
        await this.markers.remove(markers);
      }
      published.push(...result.outbox);
      if (!more) break;
    }
    return published;
  }

  /** A write that is conditional on a document's state: `undefined` when the condition failed. */
  private async conditional<T>(write: () => Promise<T>): Promise<T | undefined> {
    try {
      return await write();
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (code === status.FAILED_PRECONDITION || code === status.ALREADY_EXISTS) return undefined;
      throw err;
    }
  }

  oldestPendingSource(): Promise<string | undefined> {
    return this.markers.oldestPendingSource();
  }

  async sourcesDue(watermarkMs: number, limit: number): Promise<string[]> {
    const snap = await this.sources.where('nextDueMs', '<', watermarkMs).orderBy('nextDueMs').limit(limit).get();
    this.counts.reads += Math.max(1, snap.size);
    return snap.docs.map((d) => parse(SourceRecord, d.data(), d.ref.path).source);
  }

  async applyChain(event: BusinessEvent, timeMs: number, watermarkMs: number, payload: string | undefined, ctx: GapStateContext): Promise<OutboxMessage[]> {
    if (this.chainLog !== undefined) return this.chainLog.apply(event, timeMs, watermarkMs, payload, ctx);
    const keys = chainKeys(event);
    if (keys.length === 0) return [];
    const grouped = [...new Set(keys.map(chainDocumentKey))];
    // The key this event satisfies, where it is grouped under another key's document: a follow-up's
    // wait. One opened before the grouping was deployed sits in a document of its own (named by the
    // key); it is read only when the group has no such wait, which, once the waits opened before the
    // deploy are closed or expired, is only a follow-up without a CRM sync before it.
    const satisfied = keys.find((k) => k.startsWith(`${event.type}|`) && chainDocumentKey(k) !== k);
    const step = (documents: readonly string[], probeLegacy: boolean) => {
      let needsLegacy = false;
      const refs = documents.map((k) => this.chains.doc(digest(k)));
      const run = this.optimistic(refs, ctx, (snaps) => {
        const held = snaps.map((snap, i) => this.chainDocument(snap, refs[i]!.path));
        // Where each key's slot is kept: its group's document, or its own one of the earlier layout.
        const home = new Map(keys.map((k) => [k, documents.indexOf(chainDocumentKey(k))]));
        if (satisfied !== undefined && !held[home.get(satisfied)!]!.slots.some((s) => s.key === satisfied)) {
          if (probeLegacy) {
            needsLegacy = true;
            return { writes: [], outbox: [] };
          }
          const own = documents.indexOf(satisfied);
          if (own >= 0 && held[own]!.slots.some((s) => s.key === satisfied)) home.set(satisfied, own);
        }
        const slots = new Map(keys.map((k) => [k, held[home.get(k)!]!.slots.find((s) => s.key === k)]));
        const { changes, outbox } = chainTransition(slots, event, timeMs, watermarkMs, payload, ctx);
        const writes = documents.flatMap((_, i) => {
          const mine = new Map([...changes].filter(([key]) => home.get(key) === i));
          const next = changedChainDocument(held[i]!.slots, mine);
          return next === undefined ? [] : [[i, this.chainDoc(next, held[i]!.legacy, ctx)] as const];
        });
        return { writes, outbox };
      });
      return run.then((outbox) => ({ outbox, needsLegacy }));
    };
    const first = await step(grouped, satisfied !== undefined);
    if (!first.needsLegacy) return first.outbox;
    return (await step([...grouped, satisfied!], false)).outbox;
  }

  async sweepChains(watermarkMs: number, ctx: GapStateContext, limit: number): Promise<{ swept: number; messages: OutboxMessage[] }> {
    if (this.chainLog !== undefined) return this.chainLog.sweep(watermarkMs, ctx, limit);
    const due = await dueChains(this.chains, watermarkMs, limit);
    this.counts.reads += Math.max(1, due.size);
    const messages: OutboxMessage[] = [];
    for (const doc of due.docs) {
      const ref = doc.ref;
      messages.push(
        ...(await this.optimistic([ref], ctx, ([snap]) => {
          const held = this.chainDocument(snap!, ref.path);
          const changes = new Map<string, SlotRecord | null>();
          const outbox: OutboxMessage[] = [];
          for (const slot of held.slots) {
            const result = sweepTransition(slot, watermarkMs, ctx);
            if (result.changed) changes.set(slot.key, result.record);
            outbox.push(...result.outbox);
          }
          const next = changedChainDocument(held.slots, changes);
          return { writes: next === undefined ? [] : [[0, this.chainDoc(next, held.legacy, ctx)] as const], outbox };
        }, doc)),
      );
    }
    return { swept: due.size, messages };
  }

  /**
   * Reads documents, decides, and writes what changed (with any outbox messages) in one batch,
   * on the condition that each document is still as read; on a conflict it reads again. Lighter
   * than a transaction: nothing is locked while deciding, and an uncontended step is one read
   * and one commit. `first` is a snapshot already in hand for the first attempt.
   */
  private async optimistic(
    refs: readonly DocumentReference[],
    ctx: GapStateContext,
    decide: (snaps: readonly DocumentSnapshot[]) => { writes: ReadonlyArray<readonly [number, DocumentData | null]>; outbox: readonly OutboxMessage[] },
    first?: DocumentSnapshot,
  ): Promise<OutboxMessage[]> {
    for (let attempt = 0; attempt < OPTIMISTIC_ATTEMPTS; attempt++) {
      let snaps: DocumentSnapshot[];
      if (attempt === 0 && first !== undefined) {
        snaps = [first];
      } else {
        snaps = await this.firestore.getAll(...refs);
        this.counts.reads += snaps.length;
      }
      const { writes, outbox } = decide(snaps);
      if (writes.length === 0 && outbox.length === 0) return [];
      const batch = this.firestore.batch();
      for (const [i, data] of writes) {
        const snap = snaps[i]!;
        const ref = refs[i]!;
        if (data === null) {
          if (snap.exists) batch.delete(ref, { lastUpdateTime: snap.updateTime! });
        } else if (snap.exists) {
          batch.update(ref, data, { lastUpdateTime: snap.updateTime! });
        } else {
          batch.create(ref, data);
        }
      }
      for (const [outboxRef, data] of this.outboxDocs(outbox, ctx)) batch.set(outboxRef, data);
      if ((await this.conditional(() => batch.commit())) === undefined) continue;
      for (const [i, data] of writes) {
        if (data !== null) this.counts.writes++;
        else if (snaps[i]!.exists) this.counts.deletes++;
      }
      this.counts.writes += outbox.length;
      return [...outbox];
    }
    throw new TransientError(`gap-detector state stayed contended over ${OPTIMISTIC_ATTEMPTS} attempts`, 'STATE_CONTENDED');
  }

  async readWatermark(): Promise<number> {
    const snap = await this.watermarks.orderBy('ms', 'desc').limit(1).get();
    this.counts.reads++;
    const ms: unknown = snap.docs[0]?.get('ms');
    return typeof ms === 'number' && Number.isFinite(ms) ? ms : Number.NEGATIVE_INFINITY;
  }

  async advanceWatermark(writer: string, ms: number, ctx: GapStateContext, atMs = ctx.now): Promise<void> {
    // `at`: when the writer saw `ms`. A writer only ever raises its own record (LocalWatermark
    // writes only what is above every record it knows), so `at` goes with the record's `ms`.
    await this.watermarks
      .doc(writer)
      .set({ ms: FieldValue.maximum(ms), at: atMs, expireAt: Timestamp.fromMillis(retentionExpiry(ctx)) }, { merge: true });
    this.counts.writes++;
  }

  async readEventWatermark(tick: string): Promise<RecordedWatermark | undefined> {
    // The two highest records: one of them may be the scheduler's.
    const snap = await this.watermarks.orderBy('ms', 'desc').limit(2).get();
    this.counts.reads += Math.max(1, snap.size);
    const doc = snap.docs.find((d) => d.id !== tick);
    const ms: unknown = doc?.get('ms');
    if (typeof ms !== 'number' || !Number.isFinite(ms)) return undefined;
    const at: unknown = doc?.get('at');
    // A record written before `at` was kept: taken as live traffic (event time = wall clock).
    return { ms, atMs: typeof at === 'number' && Number.isFinite(at) ? at : ms };
  }

  async pendingOutbox(writtenBeforeMs: number, limit: number): Promise<OutboxMessage[]> {
    const snap = await this.outbox.where('writtenAtMs', '<=', writtenBeforeMs).orderBy('writtenAtMs').limit(limit).get();
    this.counts.reads += Math.max(1, snap.size);
    const folds = snap.docs.map((d) => {
      const { to, data, attributes } = parse(OutboxRecord, d.data(), d.ref.path);
      return { id: d.id, to, data, attributes };
    });
    if (this.chainLog === undefined || folds.length >= limit) return folds;
    return [...folds, ...(await this.chainLog.pendingOutbox(writtenBeforeMs, limit - folds.length))];
  }

  async deleteOutbox(published: readonly string[]): Promise<void> {
    const ids = this.chainLog === undefined ? published : await this.chainLog.deleteOutbox(published);
    if (ids.length === 0) return;
    const batch = this.firestore.batch();
    for (const id of ids) batch.delete(this.outbox.doc(id));
    await batch.commit();
    this.counts.deletes += ids.length;
  }

  /** The slots a chain document holds (none when it does not exist), and whether it is in the layout before grouping. */
  private chainDocument(snap: DocumentSnapshot, path: string): { slots: SlotRecord[]; legacy: boolean } {
    if (!snap.exists) return { slots: [], legacy: false };
    const stored = parse(StoredChainDocument, snap.data(), path);
    return { slots: chainSlots(stored), legacy: !('slots' in stored) };
  }

  private chainDoc(doc: ChainDocument | null, legacy: boolean, ctx: GapStateContext): DocumentData | null {
    if (doc === null) return null;
    // A document of the earlier layout is rewritten in this one: its top-level record goes.
    const old = legacy ? { key: FieldValue.delete(), seen: FieldValue.delete(), waiting: FieldValue.delete(), reported: FieldValue.delete() } : {};
    return { ...old, ...doc, expireAt: Timestamp.fromMillis(chainDocumentExpiry(doc, ctx)) };
  }

  private outboxDocs(messages: readonly OutboxMessage[], ctx: GapStateContext): Array<[DocumentReference, DocumentData]> {
    return messages.map((m) => [
      this.outbox.doc(m.id),
      { to: m.to, data: m.data, attributes: m.attributes, writtenAtMs: ctx.now, expireAt: Timestamp.fromMillis(retentionExpiry(ctx)) },
    ]);
  }
}

/** Operation counts of several logs, added up when read. */
function sumOfCounts(parts: ReadonlyArray<OperationCounts | undefined>): OperationCounts {
  const of = (k: keyof OperationCounts) => parts.reduce((n, c) => n + (c?.[k] ?? 0), 0);
  return {
    get reads() {
      return of('reads');
    },
    get writes() {
      return of('writes');
    },
    get deletes() {
      return of('deletes');
    },
  } as OperationCounts;
}

/**
 * The chain documents of `<prefix>-chains`, for a chain log to read through after a deployment
 * moved its chains there (bigtable-chains.ts): a document is named by the digest of its key, and
 * its key is its first slot's group (records.ts, `chainDocumentKey`).
 */
export class FirestoreEarlierChains implements EarlierChains {
  private readonly chains: CollectionReference;

  constructor(firestore: Firestore, prefix = 'gap-detector') {
    this.chains = firestore.collection(`${prefix}-chains`);
  }

  async read(documentKeys: readonly string[]): Promise<Map<string, SlotRecord[]>> {
    const found = new Map<string, SlotRecord[]>();
    if (documentKeys.length === 0) return found;
    const snaps = await this.chains.firestore.getAll(...documentKeys.map((k) => this.chains.doc(digest(k))));
    snaps.forEach((snap, i) => {
      if (snap.exists) found.set(documentKeys[i]!, chainSlots(parse(StoredChainDocument, snap.data(), snap.ref.path)));
    });
    return found;
  }

  async due(watermarkMs: number, limit: number): Promise<string[]> {
    const due = await dueChains(this.chains, watermarkMs, limit);
    return due.docs.flatMap((d) => {
      const first = chainSlots(parse(StoredChainDocument, d.data(), d.ref.path))[0];
      return first === undefined ? [] : [chainDocumentKey(first.key)];
    });
  }

  async forget(documentKeys: readonly string[]): Promise<void> {
    if (documentKeys.length === 0) return;
    const batch = this.chains.firestore.batch();
    for (const k of documentKeys) batch.delete(this.chains.doc(digest(k)));
    await batch.commit();
  }
}

/** The chain documents with a due time before the watermark, earliest first: what a sweep reports from. */
function dueChains(chains: CollectionReference, watermarkMs: number, limit: number) {
  return chains.where('dueMs', '<', watermarkMs).orderBy('dueMs').limit(limit).get();
}

function parse<S extends z.ZodType>(schema: S, data: DocumentData | undefined, path: string): z.infer<S> {
  return parseStored(schema, data, path);
}
