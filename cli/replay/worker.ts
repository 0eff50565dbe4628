/**
 * A replay worker thread: prepares batches of input lines, which it reads as bytes the main
 * thread shares with it (LineBatch), making their text (prepareLine: decoding, validation,
 * time, business key, digests) and sends back what the main thread's rules read, in compact form:
 * instants, key masks, digests, types and source numbers in transferable arrays, the ids, the
 * sequence numbers and chain ids as one text a batch, the findings of invalid lines, and the validated
 * event's JSON where decoding the line would not give it. The main thread keeps the bytes it sent
 * and decodes an event only when a rule reads it whole (`preparedAt`): a structured clone of
 * every event costs the main thread about twice a `JSON.parse` of its text.
 * Started by pool.ts with validation's context as workerData.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ValidationContext } from '../../functions/deduplicator/core-validation';
import { received, type LineBatch } from './lines';
import { compactBatch, SourceTable, type CompactBatch } from './prepare';

export interface WorkRequest {
  readonly seq: number;
  readonly lines: LineBatch;
}

export interface WorkResult extends CompactBatch {
  readonly seq: number;
}

const ctx = workerData as ValidationContext;
const port = parentPort!;
const sources = new SourceTable();
port.on('message', (req: WorkRequest) => {
  const result: WorkResult = { seq: req.seq, ...compactBatch(received(req.lines), ctx, sources) };
  const { times, masks, durations, digests, types, sources: numbers, ends, present } = result;
  port.postMessage(result, [times.buffer, masks.buffer, durations.buffer, digests.buffer, types.buffer, numbers.buffer, ends.buffer, present.buffer]);
});
