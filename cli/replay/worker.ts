/**
 * A replay worker thread: prepares batches of input lines (prepareLine: decoding, validation,
 * time, business key, digests) and sends back only what the main thread cannot cheaply redo, in
 * compact form: instants, key masks and digests in transferable arrays, the findings of invalid
 * lines, and the validated event's JSON where decoding the line would not give it. The main thread
 * keeps the lines it sent and decodes each valid one itself (`preparedAt`): a structured clone
 * of every event costs the main thread about twice a `JSON.parse` of its text.
 * Started by pool.ts with the validator's context as workerData.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ValidatorContext } from '../../functions/validator/core';
import type { Line } from './lines';
import { compactBatch, type CompactBatch } from './prepare';

export interface WorkRequest {
  readonly seq: number;
  readonly lines: readonly Line[];
}

export interface WorkResult extends CompactBatch {
  readonly seq: number;
}

const ctx = workerData as ValidatorContext;
const port = parentPort!;
port.on('message', (req: WorkRequest) => {
  const result: WorkResult = { seq: req.seq, ...compactBatch(req.lines, ctx) };
  port.postMessage(result, [result.times.buffer, result.masks.buffer, result.digests.buffer]);
});
