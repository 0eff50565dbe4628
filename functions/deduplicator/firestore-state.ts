import { createHash } from 'node:crypto';
import { Timestamp, type CollectionReference, type Firestore } from '@google-cloud/firestore';
import { claimRecord, expiresAt, judge, type Candidate, type DedupKey, type DedupRecord, type Judgement } from './core';
import type { DedupContext, DedupStore } from './state';

/**
 * Deduplicator state in Firestore: one document per key (id, business key, content digest),
 * named by a digest of the key so any key text is a valid document id. A transaction reads the
 * candidate's keys, applies the pure rules and `create()`s every key of a first arrival:
 * `create` fails on an existing document, so of concurrent first arrivals exactly one commits
 * and the others retry against its records. `expireAt` is the field of a TTL policy.
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
    return this.collection.firestore.runTransaction(async (tx) => {
      const snaps = await tx.getAll(...refs);
      const existing = snaps.map((s) => (s.exists ? fromDoc(s.data()!) : undefined));
      const judgement = judge(candidate, existing, ctx);
      if (judgement.kind === 'accept') {
        const record = claimRecord(candidate, ctx);
        const doc = { ...record, expireAt: Timestamp.fromMillis(expiresAt(candidate, ctx)) };
        candidate.keys.forEach((k, i) => {
          const ref = refs[i]!;
          if (snaps[i]!.exists) tx.set(ref, { ...doc, basis: k.basis });
          else tx.create(ref, { ...doc, basis: k.basis });
        });
      }
      return judgement;
    });
  }

  async markForwarded(candidate: Candidate): Promise<void> {
    await this.ref(candidate.keys[0]!).update({ forwarded: true });
  }
}

function fromDoc(data: FirebaseFirestore.DocumentData): DedupRecord {
  return {
    eventId: String(data.eventId),
    eventTimeMs: Number(data.eventTimeMs),
    ingestId: String(data.ingestId),
    forwarded: Boolean(data.forwarded),
    leaseUntil: Number(data.leaseUntil),
  };
}
