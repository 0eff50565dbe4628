import { createReadStream, renameSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { DEFAULT_DEDUP_CONFIG, type DeduplicatorConfig } from '../../functions/deduplicator/core';
import type { GapRules } from '../../functions/gap-detector/core';
import { DEFAULT_MAX_FUTURE_MS } from '../../shared/events/validate';
import type { RatesFile } from '../../shared/rates/file';
import { ReplayEngine, type ReplaySummary } from './engine';
import { readLines } from './lines';
import { preparedBatches } from './pool';
import { BlockWriter } from './output';
import { prepareOutDir } from './out-dir';
import { describeIoError, isIoError, UsageError } from '../usage';
import type { ReplayStage, StageOptions } from './stage';
import { buildStages } from './stages';

export interface ReplayOptions {
  readonly input: Readable;
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
  /** Called now and then with the number of lines read so far. */
  readonly progress?: (lines: number) => void;
}

export const OUTPUT_FILES = { findings: 'findings.ndjson', events: 'events.ndjson', summary: 'summary.json' } as const;

/** Runs the embedded pipeline over an NDJSON stream and writes the three output files. */
export async function runReplay(options: ReplayOptions): Promise<ReplaySummary> {
  prepareOutDir(options.outDir);
  const temps = [join(options.outDir, `.${OUTPUT_FILES.events}.corrections.tmp`), `${join(options.outDir, OUTPUT_FILES.summary)}.tmp`];
  try {
    return await replayInto(options);
  } catch (err) {
    if (!isIoError(err)) throw err;
    // A full disk, a quota, a folder made read-only meanwhile: one line, and no temp files left.
    for (const t of temps) rmSync(t, { force: true });
    throw new UsageError(`cannot write ${err.path ?? options.outDir}: ${describeIoError(err)}`);
  }
}

async function replayInto(options: ReplayOptions): Promise<ReplaySummary> {
  const findings = new BlockWriter(join(options.outDir, OUTPUT_FILES.findings));
  const events = new BlockWriter(join(options.outDir, OUTPUT_FILES.events));
  const correctionsPath = join(options.outDir, `.${OUTPUT_FILES.events}.corrections.tmp`);
  const corrections = new BlockWriter(correctionsPath);
  const stageOptions = {
    now: options.now,
    env: options.env ?? process.env,
    ...(options.rates ? { rates: options.rates } : {}),
    ...(options.gapRules ? { gapRules: options.gapRules } : {}),
    ...(options.reviewFactor !== undefined ? { reviewFactor: options.reviewFactor } : {}),
    ...(options.volume !== undefined ? { volume: options.volume } : {}),
  };
  const maxFutureMs = options.maxFutureMs ?? DEFAULT_MAX_FUTURE_MS;
  const engine = new ReplayEngine(
    {
      now: options.now,
      maxFutureMs,
      dedup: options.dedup ?? DEFAULT_DEDUP_CONFIG,
      stages: options.stages ?? buildStages(stageOptions),
    },
    {
      finding: (f) => findings.line(JSON.stringify(f)),
      accepted: (text) => events.line(text),
      correction: (c) => corrections.line(JSON.stringify(c)),
    },
  );
  let summary: ReplaySummary;
  try {
    let read = 0;
    const workers = options.workers ?? 0;
    if (workers > 0) {
      const ctx = { now: options.now, config: { maxFutureMs } };
      for await (const batch of preparedBatches(readLines(options.input), workers, ctx)) {
        const { prepared, digests } = batch;
        for (let i = 0; i < prepared.length; i++) {
          const pending = engine.prepared(prepared[i]!, digests, i);
          if (pending) await pending;
        }
        read += prepared.length;
        options.progress?.(read);
      }
    } else {
      for await (const batch of readLines(options.input)) {
        for (const line of batch) {
          const pending = engine.line(line);
          if (pending) await pending;
        }
        read += batch.length;
        options.progress?.(read);
      }
    }
    summary = await engine.end();
  } finally {
    findings.close();
    events.close();
    corrections.close();
  }
  // Corrections follow the accepted events in events.ndjson (DESIGN §7).
  if (corrections.count > 0) {
    await pipeline(createReadStream(correctionsPath), createWriteStream(events.path, { flags: 'a' }));
  }
  rmSync(correctionsPath, { force: true });
  const summaryPath = join(options.outDir, OUTPUT_FILES.summary);
  writeFileSync(`${summaryPath}.tmp`, `${JSON.stringify(summary, null, 2)}\n`);
  renameSync(`${summaryPath}.tmp`, summaryPath);
  return summary;
}
