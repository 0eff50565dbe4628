import { status } from '@grpc/grpc-js';
import { FieldValue, Timestamp, type CollectionReference, type WriteBatch } from '@google-cloud/firestore';
import { z } from 'zod';
import { retentionExpiry } from './records';
import { digest, parseStored, StoredMarker, storedMarker } from './stored';
import type { GapStateContext, LoggedMarker, MarkerLog, OperationCounts, SequenceMarker } from './store';

const Marker = StoredMarker.extend({ arrivedAt: z.instanceof(Timestamp) });

/**
 * The markers in Firestore, `<prefix>-markers/<digest(source, seq)>`: one `create()` per delivery
 * that carries a sequence number, nothing read. Creates of distinct documents do not contend;
 * `create` failing on an existing document makes a redelivery (or a repeated number) a no-op
 * until the marker is folded, and a repeat to the fold after that. Arrival order is the commit
 * time (a server timestamp); the fold deletes the markers it applied in the same batch as the
 * source's summary (`deleteIn`), so a marker is never applied twice.
 */
export class FirestoreMarkerLog implements MarkerLog {
  constructor(
    private readonly markers: CollectionReference,
    /** The store's counts: Firestore bills the markers with the rest of its documents. */
    readonly counts: OperationCounts = { reads: 0, writes: 0, deletes: 0 },
  ) {}

  async record(marker: SequenceMarker, ctx: GapStateContext): Promise<'recorded' | 'repeat'> {
    try {
      await this.markers.doc(digest(marker.source, marker.seq)).create({
        src: digest(marker.source),
        ...storedMarker(marker),
        arrivedAt: FieldValue.serverTimestamp(),
        expireAt: Timestamp.fromMillis(retentionExpiry(ctx)),
      });
    } catch (err) {
      if ((err as { code?: number }).code === status.ALREADY_EXISTS) return 'repeat';
      throw err;
    }
    this.counts.writes++;
    return 'recorded';
  }

  async pending(source: string, limit: number): Promise<{ markers: LoggedMarker[]; more: boolean }> {
    const snapshot = await this.markers.where('src', '==', digest(source)).orderBy('arrivedAt').limit(limit).get();
    this.counts.reads += Math.max(1, snapshot.size);
    const markers = snapshot.docs.map((d): LoggedMarker => {
      const m = parseStored(Marker, d.data(), d.ref.path);
      return { key: d.id, source: m.source, seq: m.seq, eventId: m.eventId, type: m.type, timeMs: m.timeMs, watermarkMs: m.watermarkMs, order: m.arrivedAt.toMillis() };
    });
    return { markers, more: snapshot.size === limit };
  }

  async oldestPendingSource(): Promise<string | undefined> {
    const snap = await this.markers.orderBy('arrivedAt').limit(1).get();
    this.counts.reads++;
    const doc = snap.docs[0];
    return doc === undefined ? undefined : parseStored(Marker, doc.data(), doc.ref.path).source;
  }

  /** Deletes applied markers in the fold's own batch: with the summary that applied them, or not at all. */
  deleteIn(batch: WriteBatch, markers: readonly LoggedMarker[]): void {
    for (const m of markers) batch.delete(this.markers.doc(m.key));
  }

  async remove(markers: readonly LoggedMarker[]): Promise<void> {
    if (markers.length === 0) return;
    const batch = this.markers.firestore.batch();
    this.deleteIn(batch, markers);
    await batch.commit();
    this.counts.deletes += markers.length;
  }
}
