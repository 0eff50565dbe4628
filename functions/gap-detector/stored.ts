import { createHash } from 'node:crypto';
import { z } from 'zod';

/** What the stores share about stored records: their keys, and reading them back. */

/** A key for any text: Firestore ids may not contain '/', which sources do; Bigtable row keys keep a fixed width. */
export function digest(...parts: string[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url');
}

/** A stored record read back through its schema: a malformed one is a bug or tampering, never a reason to guess. */
export function parseStored<S extends z.ZodType>(schema: S, data: unknown, path: string): z.infer<S> {
  const result = schema.safeParse(data);
  if (!result.success) throw new Error(`gap-detector state ${path} is malformed: ${z.prettifyError(result.error)}`);
  return result.data;
}

/** A sequence marker's fields as both marker logs store them (store.ts `SequenceMarker`). */
export const StoredMarker = z.object({
  source: z.string().min(1),
  seq: z.string().regex(/^\d+$/),
  eventId: z.string(),
  type: z.string(),
  timeMs: z.number().finite(),
  watermarkMs: z.number(),
});

/** The fields of a marker that the logs store (a delivery's marker may carry more). */
export function storedMarker(m: z.infer<typeof StoredMarker>): z.infer<typeof StoredMarker> {
  return { source: m.source, seq: m.seq, eventId: m.eventId, type: m.type, timeMs: m.timeMs, watermarkMs: m.watermarkMs };
}
