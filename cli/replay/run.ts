import { createReadStream, createWriteStream, rmSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { DEFAULT_DEDUP_CONFIG, type DeduplicatorConfig } from '../../functions/deduplicator/core';
import { DEFAULT_GAP_RULES, type GapRules } from '../../functions/gap-detector/core';
import { DEFAULT_MAX_FUTURE_MS } from '../../shared/events/validate';
import type { BusinessEvent } from '../../shared/events/envelope';
import type { Finding } from '../../shared/findings';
import type { RatesFile } from '../../shared/rates/file';
import { ReplayEngine, type ReplaySummary } from './engine';
import { lineAt, readLineBatches, textStart, type LineBatch } from './lines';
import { LineBytesWriter } from './line-writer';
import { ForeignSales, formatHint, OrderMonitor, type OutOfOrder } from './observers';
import { AtomicFile, BlockWriter, prepareOutDir } from './output';
import { preparedBatches } from './pool';
import { preparedAt } from './prepare';
import type { ReplayStage, StageOptions } from './stage';
import { buildStages } from './stages';

/** One named input of a replay; several are read one after the other, as one log. */
export interface ReplayInput {
  readonly name: string;
  readonly stream: Readable;
}

export interface ReplayOptions {
  /** One stream, or several named inputs read in order (line numbers run on across them). */
  readonly input: Readable | readonly ReplayInput[];
  readonly outDir: string;
  readonly now: number;
  readonly rates?: RatesFile;
  readonly env?: NodeJS.ProcessEnv;
  readonly dedup?: DeduplicatorConfig;
  readonly maxFutureMs?: number;
  /** Grace period and chain deadlines of the gap-detector (default: DESIGN §3). */
  readonly gapRules?: GapRules;
  /** The revenue review factor (default 3). */
  readonly reviewFactor?: number;
  /** Volume-anomaly settings over the defaults; `false` leaves the detector out. */
  readonly volume?: StageOptions['volume'];
  /** Replaces the default stages (tests). */
  readonly stages?: readonly ReplayStage[];
  /**
   * Worker threads that prepare lines (validation, time, keys) while the main thread does the
   * order-dependent part; 0 (the default) does everything on the main thread. Outputs are the same.
   */
  readonly workers?: number;
  /** Stripe and Twilio lookups pending at once, each within its API's rate limit (default 1). */
  readonly maxInFlight?: number;
  /** Stages that only watch (e.g. what the report page draws); they run first and emit nothing. */
  readonly observers?: readonly ReplayStage[];
  /** Sees every finding and correction as it is written (e.g. what the report page draws). */
  readonly tap?: { finding?(finding: Finding): void; correction?(correction: BusinessEvent): void };
  /** Called now and then with the number of lines read so far. */
  readonly progress?: (lines: number) => void;
  /** Called with each warning about the input as soon as it is known (also kept in the summary). */
  readonly warn?: (message: string) => void;
  /** Stops the run between two batches of lines: outputs are then left as `*.partial`. */
  readonly signal?: AbortSignal;
}

/**
 * The summary of DESIGN §7, plus what the run noticed about its input: `out_of_order` (events
 * far behind the watermark on arrival) and `warnings` (the sentences printed on stderr).
 */
export type RunSummary = ReplaySummary & { out_of_order: OutOfOrder; warnings: string[] };

export const OUTPUT_FILES = { findings: 'findings.ndjson', events: 'events.ndjson', summary: 'summary.json' } as const;

/** A run that did not complete: how far it got, and where its partial outputs are. */
export class ReplayStopped extends Error {
  override readonly name = 'ReplayStopped';
  constructor(
    readonly why: 'interrupted' | 'failed',
    readonly lines: number,
    readonly partialFiles: readonly string[],
    options?: { cause?: unknown },
  ) {
    super(why === 'interrupted' ? `interrupted after ${lines} lines` : `stopped by an error after ${lines} lines`, options);
  }
}

/**
 * Runs the embedded pipeline over NDJSON input and writes the three output files. Every output is
 * written under a temporary name and renamed into place only when the run completes; a run that
 * stops (signal, error) leaves `<name>.partial` files and removes the complete outputs of an
 * earlier run in the same folder, so nothing there looks complete.
 */
export async function runReplay(options: ReplayOptions): Promise<RunSummary> {
  prepareOutDir(options.outDir);
  const files = {
    findings: new AtomicFile(join(options.outDir, OUTPUT_FILES.findings)),
    events: new AtomicFile(join(options.outDir, OUTPUT_FILES.events)),
    summary: new AtomicFile(join(options.outDir, OUTPUT_FILES.summary)),
  };
  for (const f of Object.values(files)) rmSync(f.partialPath, { force: true });
  const findings = new BlockWriter(files.findings.tmpPath);
  const events = new LineBytesWriter(files.events.tmpPath);
  const correctionsPath = join(options.outDir, `.${OUTPUT_FILES.events}.corrections.tmp`);
  const corrections = new BlockWriter(correctionsPath);
  const gapRules = options.gapRules ?? DEFAULT_GAP_RULES;
  const stageOptions = {
    now: options.now,
    env: options.env ?? process.env,
    ...(options.rates ? { rates: options.rates } : {}),
    ...(options.gapRules ? { gapRules: options.gapRules } : {}),
    ...(options.reviewFactor !== undefined ? { reviewFactor: options.reviewFactor } : {}),
    ...(options.volume !== undefined ? { volume: options.volume } : {}),
  };
  const order = new OrderMonitor(gapRules.graceMs);
  const tapFinding = options.tap?.finding?.bind(options.tap);
  const foreign = options.rates ? undefined : new ForeignSales();
  const engine = new ReplayEngine(
    {
      now: options.now,
      maxFutureMs: options.maxFutureMs ?? DEFAULT_MAX_FUTURE_MS,
      dedup: options.dedup ?? DEFAULT_DEDUP_CONFIG,
      stages: [order, ...(foreign ? [foreign] : []), ...(options.observers ?? []), ...(options.stages ?? buildStages(stageOptions))],
      ...(options.maxInFlight !== undefined ? { maxInFlight: options.maxInFlight } : {}),
    },
    {
      finding: tapFinding
        ? (f) => {
            tapFinding(f);
            findings.line(JSON.stringify(f));
          }
        : (f) => findings.line(JSON.stringify(f)),
      accepted: (lines, i) => events.line(lines.bytes, textStart(lines, i), lines.bounds[2 * i + 1]!),
      correction: (c) => {
        options.tap?.correction?.call(options.tap, c);
        corrections.line(JSON.stringify(c));
      },
    },
  );
  const warnings: string[] = [];
  const warn = (message: string) => {
    warnings.push(message);
    options.warn?.(message);
  };
  const inputs: readonly ReplayInput[] = isStream(options.input) ? [{ name: '-', stream: options.input }] : options.input;
  let read = 0;
  let summary: ReplaySummary;
  let current: Readable | undefined;
  const stopReading = () => current?.destroy();
  options.signal?.addEventListener('abort', stopReading, { once: true });
  try {
    const maxFutureMs = options.maxFutureMs ?? DEFAULT_MAX_FUTURE_MS;
    const workers = options.workers ?? 0;
    for (const input of inputs) {
      if (options.signal?.aborted) break;
      current = input.stream;
      const offset = read;
      // The first batch of each input is looked at once, for a hint about its format.
      async function* hinted(batches: AsyncIterable<LineBatch>): AsyncGenerator<LineBatch> {
        let first = true;
        for await (const batch of batches) {
          if (first) {
            first = false;
            const hint = formatHint(input.name, batch.length > 0 ? lineAt(batch, 0).text : undefined);
            if (hint) warn(hint);
          }
          yield offset === 0 ? batch : { ...batch, first: batch.first + offset };
        }
      }
      try {
        if (workers > 0) {
          const ctx = { now: options.now, config: { maxFutureMs } };
          for await (const { lines, result, sources } of preparedBatches(hinted(readLineBatches(input.stream)), workers, ctx)) {
            for (let i = 0; i < lines.length; i++) {
              const pending = engine.prepared(preparedAt(lines, result, i, sources), result.digests, i);
              if (pending) await pending;
            }
            read += lines.length;
            options.progress?.(read);
            if (options.signal?.aborted) break;
          }
        } else {
          for await (const batch of hinted(readLineBatches(input.stream))) {
            for (let i = 0; i < batch.length; i++) {
              const pending = engine.line(batch, i);
              if (pending) await pending;
            }
            read += batch.length;
            options.progress?.(read);
            if (options.signal?.aborted) break;
          }
        }
      } catch (err) {
        if (!options.signal?.aborted) throw err; // a stream destroyed by the abort may end with an error
      }
    }
    if (options.signal?.aborted) throw new ReplayStopped('interrupted', read, []);
    summary = await engine.end();
    findings.close();
    await events.close();
    corrections.close();
    // Corrections follow the accepted events in events.ndjson (DESIGN §7).
    if (corrections.count > 0) {
      await pipeline(createReadStream(correctionsPath), createWriteStream(events.path, { flags: 'a' })).catch((err: NodeJS.ErrnoException) => {
        err.path ??= events.path;
        throw err;
      });
    }
  } catch (err) {
    engine.stop();
    findings.close();
    // The run has failed already: what it failed with is what is reported.
    await events.close().catch(() => undefined);
    corrections.close();
    rmSync(correctionsPath, { force: true });
    files.summary.write(`${JSON.stringify({ partial: true, why: err instanceof ReplayStopped ? err.why : 'failed', lines_read: read }, null, 2)}\n`);
    const partial = Object.values(files).flatMap((f) => {
      rmSync(f.path, { force: true });
      return f.abandon() ?? [];
    });
    if (err instanceof ReplayStopped) throw new ReplayStopped(err.why, read, partial);
    throw new ReplayStopped('failed', read, partial, { cause: err });
  } finally {
    options.signal?.removeEventListener('abort', stopReading);
  }
  rmSync(correctionsPath, { force: true });
  const orderWarning = order.warning();
  if (orderWarning) warn(orderWarning);
  const fxWarning = foreign?.warning();
  if (fxWarning) warn(fxWarning);
  const result: RunSummary = { ...summary, out_of_order: order.summary(), warnings };
  files.summary.write(`${JSON.stringify(result, null, 2)}\n`);
  // The summary last: its presence says the other two are complete.
  files.findings.finish();
  files.events.finish();
  files.summary.finish();
  return result;
}

function isStream(input: ReplayOptions['input']): input is Readable {
  return !Array.isArray(input);
}

