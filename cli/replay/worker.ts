/**
 * A replay worker thread: prepares batches of input lines (prepareLine: decoding, validation,
 * time, business key, digests) and sends them back with their digests in one transferable array.
 * Started by pool.ts with the validator's context as workerData.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ValidatorContext } from '../../functions/validator/core';
import type { Line } from './lines';
import { DIGEST_WORDS_PER_EVENT, prepareLine } from './prepare';

export interface WorkRequest {
  readonly seq: number;
  readonly lines: readonly Line[];
}

export interface WorkResult {
  readonly seq: number;
  readonly prepared: ReturnType<typeof prepareLine>[];
  readonly digests: Uint32Array;
}

const ctx = workerData as ValidatorContext;
const port = parentPort!;
port.on('message', (req: WorkRequest) => {
  const digests = new Uint32Array(req.lines.length * DIGEST_WORDS_PER_EVENT);
  const prepared = req.lines.map((line, i) => prepareLine(line, ctx, digests, i));
  const result: WorkResult = { seq: req.seq, prepared, digests };
  port.postMessage(result, [digests.buffer]);
});
