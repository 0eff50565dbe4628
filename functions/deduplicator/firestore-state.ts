import { createHash } from 'node:crypto';
import { Timestamp, type CollectionReference, type DocumentSnapshot, type Firestore, type WriteBatch } from '@google-cloud/firestore';
import { TransientError } from '../../shared/errors';
import { claimRecord, expiresAt, judge, type Candidate, type DedupKey, type DedupRecord, type Judgement } from './core';
import type { DedupContext, DedupStore } from './state';

/** Claims lost to a concurrent delivery before this one gives up (and the message is redelivered). */
const CLAIM_ATTEMPTS = 10;

/**
 * Deduplicator state in Firestore: one document per key (id, business key, content digest),
 * named by a digest of the key so any key text is a valid document id. Optimistic and without
 * locks. A first arrival (nearly every event) is claimed blind: one atomic batch that `create`s
 * every key, nothing read, since the rules accept an event none of whose keys is held, and a
 * create fails if its document exists (ALREADY_EXISTS), the whole batch with it
 * (https://cloud.google.com/firestore/docs/manage-data/transactions#batched-writes: "a batch of
 * writes completes atomically"). Only when a key is held (a duplicate, a redelivery, a key left
 * from beyond the window) does it read: one consistent read of the keys, the pure rules, and one
 * atomic batch that claims every key on the condition that none changed since the read (`create`
 * of an absent key, `update` at the read's update time of a present one). A concurrent claim
 * makes the batch fail as a whole; the candidate is then judged again against it. That saves
 * the read of every key of every first arrival (2.8 reads an event on the demo stream).
 * The claim is the only write an accepted event costs: no "forwarded" mark follows the publish
 * (a third write, 0.98 writes an event on the demo stream, until issue 21), so a redelivery of a
 * forwarded delivery takes its claim over once the lease is over and forwards it again, the same
 * event under the same ingest id (handler.ts says why that changes nothing downstream).
 *
 * No interactive transaction: an instance that dies inside one (the fault-injection suite kills
 * them there) leaves its read locks held until the transaction expires (about 60 s on the
 * emulator), and every delivery touching those keys meanwhile (its own redelivery, and the
 * duplicate copy of the event) failed with ABORTED "Transaction lock timeout" until its
 * delivery attempts ran out and it was dead-lettered: a lost event, or a lost duplicate finding.
 * A batch is one request: a dead instance has either committed it or not, and holds nothing.
 * `expireAt` is the field of a TTL policy.
 *
 * An event with a business key keeps its content key inside the business key's document (the
 * `content` field: the content key's document id) instead of a document of its own: one write
 * less per such event (Firestore bills each document written,
 * https://cloud.google.com/firestore/pricing). Nothing is lost: equal content means equal type,
 * data and time (shared/events/keys.ts), so equal business key, which the rules check first and
 * at the same event time. The one case where the business key's document no longer tells: it
 * changed hands, claimed by another event beyond the window of its holder. The claim that takes
 * it over then writes the holder's content key to its own document, so a later exact copy of the
 * holder is still found (as replay, which keeps every key, finds it).
 */
export class FirestoreDedupStore implements DedupStore {
  private readonly collection: CollectionReference;

  constructor(firestore: Firestore, collectionName = 'dedup-keys') {
    this.collection = firestore.collection(collectionName);
  }

  private ref(key: DedupKey) {
    return this.collection.doc(createHash('sha256').update(`${key.basis}:${key.key}`).digest('base64url'));
  }

  async judgeAndClaim(candidate: Candidate, ctx: DedupContext): Promise<Judgement> {
    const refs = candidate.keys.map((k) => this.ref(k));
    const shape = keyShape(candidate);
    const contentId = refs[shape.content]!.id;
    const firestore = this.collection.firestore;
    /** The documents the claim writes: every key's, but the content key inside the business key's. */
    const doc = (record: DedupRecord, basis: DedupKey['basis']) => ({
      ...record,
      expireAt: Timestamp.fromMillis(expiresAt(candidate, ctx)),
      basis,
      ...(basis === 'business_key' ? { content: contentId } : {}),
    });
    const blind = judge(candidate, candidate.keys.map(() => undefined), ctx);
    if (blind.kind === 'accept') {
      const record = claimRecord(candidate, ctx);
      const batch = firestore.batch();
      candidate.keys.forEach((k, i) => {
        if (i !== shape.content || shape.businessKey === undefined) batch.create(refs[i]!, doc(record, k.basis));
      });
      try {
        await batch.commit();
        return blind;
      } catch (err) {
        if (!lostTheRace(err)) throw err;
      }
    }
    for (let attempt = 1; ; attempt++) {
      const snaps = await firestore.getAll(...refs);
      const existing = snaps.map((s) => (s.exists ? fromDoc(s.data()!) : undefined));
      if (shape.businessKey !== undefined && existing[shape.content] === undefined) {
        // The content key of an event with a business key is held in that key's document.
        const held = snaps[shape.businessKey]!;
        if (held.exists && held.get('content') === contentId) existing[shape.content] = existing[shape.businessKey];
      }
      const judgement = judge(candidate, existing, ctx);
      if (judgement.kind !== 'accept') return judgement;
      const record = claimRecord(candidate, ctx);
      const batch = firestore.batch();
      candidate.keys.forEach((k, i) => {
        if (i !== shape.content || shape.businessKey === undefined) claim(batch, refs[i]!, snaps[i]!, doc(record, k.basis));
      });
      if (shape.businessKey !== undefined) {
        // Taking the business key over from another event (beyond its window): its content key
        // moves to a document of its own. Only that event can hold the document (the same content
        // is the same business key at the same time), so it is written whatever it holds.
        const held = snaps[shape.businessKey]!;
        const heldContent: unknown = held.exists ? held.get('content') : undefined;
        if (typeof heldContent === 'string' && heldContent !== contentId) {
          const { content: _moved, ...previous } = held.data()!;
          batch.set(this.collection.doc(heldContent), { ...previous, basis: 'content' });
        }
      }
      try {
        await batch.commit();
        return judgement;
      } catch (err) {
        if (!lostTheRace(err)) throw err;
        if (attempt >= CLAIM_ATTEMPTS) {
          throw new TransientError('the keys kept changing under concurrent deliveries', 'CLAIM_CONTENDED', { eventId: candidate.event.id });
        }
      }
    }
  }
}

/** Where the business key (if any) and the content key are among a candidate's keys. */
function keyShape(candidate: Candidate): { businessKey: number | undefined; content: number } {
  const businessKey = candidate.keys.findIndex((k) => k.basis === 'business_key');
  const content = candidate.keys.findIndex((k) => k.basis === 'content');
  if (content < 0) throw new Error(`deduplicator: event ${candidate.event.id} has no content key`);
  return { businessKey: businessKey < 0 ? undefined : businessKey, content };
}

/** Claims one key in the batch, on the condition that it is as it was read. */
function claim(batch: WriteBatch, ref: FirebaseFirestore.DocumentReference, snap: DocumentSnapshot, doc: FirebaseFirestore.DocumentData): void {
  if (snap.exists) batch.update(ref, doc, { lastUpdateTime: snap.updateTime! });
  else batch.create(ref, doc);
}

/** ALREADY_EXISTS (a key created since the read) or FAILED_PRECONDITION (a key changed since). */
function lostTheRace(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === 6 || code === 9;
}

function fromDoc(data: FirebaseFirestore.DocumentData): DedupRecord {
  return {
    eventId: String(data.eventId),
    eventTimeMs: Number(data.eventTimeMs),
    ingestId: String(data.ingestId),
    leaseUntil: Number(data.leaseUntil),
  };
}
