import { status } from '@grpc/grpc-js';
import { Timestamp, type CollectionReference, type Firestore } from '@google-cloud/firestore';
import { parseOutcome } from '../outcome';
import type { LedgerEntry, OutcomeLedger } from '../ports';
import { derivedId } from '../ids';


/**
 * The outcome ledger in Firestore: one document per (rule, event id), written with `create()`,
 * which fails on an existing document, so of two deliveries deciding at once exactly one
 * decision stands and both publish it. The outcome is stored as JSON text (exactly what was
 * decided, no Firestore type mapping); `expireAt` is the field of a TTL policy.
 */
export class FirestoreOutcomeLedger implements OutcomeLedger {
  private readonly collection: CollectionReference;

  constructor(firestore: Firestore, collectionName = 'checker-outcomes') {
    this.collection = firestore.collection(collectionName);
  }

  private ref(rule: string, eventId: string) {
    return this.collection.doc(derivedId(rule, eventId));
  }

  async get(rule: string, eventId: string): Promise<LedgerEntry | undefined> {
    const snap = await this.ref(rule, eventId).get();
    if (!snap.exists) return undefined;
    const data = snap.data() ?? {};
    const parsed = typeof data.outcome === 'string' ? parseOutcome(data.outcome) : { ok: false as const, reason: 'no outcome field' };
    if (!parsed.ok) throw new Error(`ledger entry ${snap.id} for ${rule}/${eventId} is unreadable: ${parsed.reason}`);
    return { outcome: parsed.outcome, published: data.published === true };
  }

  async record(rule: string, eventId: string, entry: LedgerEntry, expireAtMs: number): Promise<LedgerEntry> {
    try {
      await this.ref(rule, eventId).create({
        rule,
        event_id: eventId,
        outcome: JSON.stringify(entry.outcome),
        published: entry.published,
        decided_at: Timestamp.now(),
        expireAt: Timestamp.fromMillis(expireAtMs),
      });
      return entry;
    } catch (err) {
      if ((err as { code?: unknown }).code !== status.ALREADY_EXISTS) throw err;
      const standing = await this.get(rule, eventId);
      if (!standing) throw new Error(`ledger entry for ${rule}/${eventId} exists and vanished`, { cause: err });
      return standing;
    }
  }

  async markPublished(rule: string, eventId: string): Promise<void> {
    await this.ref(rule, eventId).update({ published: true });
  }
}
