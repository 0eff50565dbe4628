import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { ValidationContext } from '../../functions/deduplicator/core-validation';
import type { LineBatch } from './lines';
import type { WorkRequest, WorkResult } from './worker';

/**
 * The default size of the pool: one worker when there is a core besides the main thread's, none
 * on one core. Measured (issue 23's fifth pass, 1,000,000 generated events on 2 cores): with one
 * worker the two threads are about equally busy (8.3 and 8.2 s of CPU), so a second worker cannot
 * shorten the run; it took 9.4 to 10.2 s and 52 MiB more peak RSS. One core time-shares the
 * threads: one worker cost 35 % more CPU than none there (the first pass, when the main thread
 * parsed each valid line again), so none. A log that is mostly invalid lines loads the workers more
 * (zod describes each one); --workers raises the count for such a log.
 */
export function defaultWorkers(): number {
  return Math.min(1, availableParallelism() - 1);
}

/** A batch of lines with what a worker prepared of them, and that worker's sources by number. */
export interface PreparedBatch {
  readonly lines: LineBatch;
  readonly result: WorkResult;
  readonly sources: readonly string[];
}

/**
 * Batches in flight per worker. Once lines went to the workers as bytes (a batch holds offsets
 * into a shared chunk, no texts), more of them in flight cost little memory and spared the
 * threads waiting on each other: 1,000,000 events, interleaved best of 3, two runs at load 2.1
 * to 2.4: 2 a worker 11.06 and 10.42 s, 4 a worker 9.68 and 10.03 s, 8 a worker 9.71 s, less
 * CPU each time (6.01x -> 5.61x, 5.90x -> 5.82x -> 5.74x the bare pass), peak RSS within 35 MiB.
 * With the lines as strings, three or more had not paid.
 */
export const IN_FLIGHT_PER_WORKER = 8;

/**
 * Prepares batches of lines on `workers` threads and yields them with the results in input order. Up to
 * `IN_FLIGHT_PER_WORKER` batches per worker are in flight, so the workers keep busy while the main thread does the
 * order-dependent part; the input is not read further ahead than that.
 */
export async function* preparedBatches(batches: AsyncIterable<LineBatch>, workers: number, ctx: ValidationContext): AsyncGenerator<PreparedBatch> {
  const pool = Array.from({ length: workers }, () => new Worker(join(__dirname, 'worker.js'), { workerData: ctx }));
  const waiting = new Map<number, { resolve: (r: WorkResult) => void; reject: (e: Error) => void }>();
  let failure: Error | undefined;
  for (const worker of pool) {
    worker.on('message', (result: WorkResult) => {
      const w = waiting.get(result.seq)!;
      waiting.delete(result.seq);
      w.resolve(result);
    });
    worker.on('error', (err) => {
      failure = err;
      for (const w of waiting.values()) w.reject(err);
      waiting.clear();
    });
  }
  const inFlight: Array<{ readonly lines: LineBatch; readonly result: Promise<WorkResult>; readonly sources: string[] }> = [];
  // Each worker's sources by number: a batch adds those it numbered first, and batches come back in order.
  const tables = pool.map((): string[] => []);
  let seq = 0;
  const send = (lines: LineBatch) => {
    if (failure) throw failure;
    const request: WorkRequest = { seq, lines };
    const worker = pool[seq % workers]!;
    inFlight.push({ lines, result: new Promise<WorkResult>((resolve, reject) => waiting.set(request.seq, { resolve, reject })), sources: tables[seq % workers]! });
    seq++;
    worker.postMessage(request);
  };
  const input = batches[Symbol.asyncIterator]();
  // A read may still be pending when the consumer stops (Ctrl-C), and the input is then destroyed:
  // its rejection reaches no await or race, and unhandled it would crash the process. The awaits
  // and races below still see every rejection that comes while they wait on it.
  const read = () => {
    const pending = input.next();
    pending.catch(() => undefined);
    return pending;
  };
  try {
    // Read the input and hand back results as each is ready, whichever comes first: a slow input
    // (a pipe that stays open) must not hold back what is already prepared.
    let next: Promise<IteratorResult<LineBatch>> | undefined = read();
    while (next) {
      const head = inFlight[0];
      const step: { readonly read?: IteratorResult<LineBatch> } = head
        ? await Promise.race([next.then((read) => ({ read })), head.result.then(() => ({}), () => ({}))])
        : { read: await next };
      if (!step.read) {
        yield await settled(inFlight.shift()!);
        continue;
      }
      if (step.read.done) break;
      send(step.read.value);
      next = read();
      while (inFlight.length >= IN_FLIGHT_PER_WORKER * workers) yield await settled(inFlight.shift()!);
    }
    while (inFlight.length > 0) yield await settled(inFlight.shift()!);
  } finally {
    await input.return?.();
    await Promise.all(pool.map((w) => w.terminate()));
  }
}

async function settled(batch: { readonly lines: LineBatch; readonly result: Promise<WorkResult>; readonly sources: string[] }): Promise<PreparedBatch> {
  const result = await batch.result;
  for (const source of result.newSources) batch.sources.push(source);
  return { lines: batch.lines, result, sources: batch.sources };
}
