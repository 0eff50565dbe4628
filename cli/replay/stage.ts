import type { BusinessEvent } from '../../shared/events/envelope';
import type { ChainEvent, GapRules } from '../../functions/gap-detector/core';
import type { EventType } from '../../shared/events/catalog';
import type { Finding } from '../../shared/findings';
import type { RatesFile } from '../../shared/rates/file';
import type { VolumeConfig, VolumeSummary } from '../../shared/volume/detector';

/**
 * A valid event inside a replay, with the input line it came from. Where a worker thread
 * prepared the line, `event` is decoded from the line's text on first use, and the fields beside
 * it come from what the worker sent: a stage that needs no more than those should read them,
 * so that the main thread decodes only the events a rule reads in full.
 */
export interface ReplayEvent {
  readonly event: BusinessEvent;
  readonly id: string;
  readonly type: EventType;
  readonly source: string;
  readonly sequence: string | undefined;
  /** What the chain rules read (gap-detector). */
  readonly chain: ChainEvent;
  /** A call.completed's `duration_seconds` (undefined for other types): the check without Twilio reads no more. */
  readonly durationSeconds: number | undefined;
  readonly timeMs: number;
  readonly line: number;
}

/** A replay event around an event already decoded. */
export function replayEvent(event: BusinessEvent, timeMs: number, line: number): ReplayEvent {
  const durationSeconds = event.type === 'call.completed' ? event.data.duration_seconds : undefined;
  return { event, id: event.id, type: event.type, source: event.source, sequence: event.sequence, chain: event, durationSeconds, timeMs, line };
}

/** Sections a stage adds to summary.json beside the engine's counters. */
export interface StageSections {
  /** Volume anomalies: series and hours judged, hours without enough history, anomalies. */
  volume?: VolumeSummary;
}

/** What a stage may emit. Findings keep their order; corrections go after the accepted events. */
export interface StageOutput {
  finding(finding: Finding): void;
  /** A correction event (see shared/corrections.ts) of the accepted `original`. */
  correction(correction: BusinessEvent, original: BusinessEvent): void;
  /**
   * An external lookup about the current event: `pending` settles to what emits its outcome.
   * The replay goes on meanwhile (a bounded number pending, `--max-in-flight`); the outcome's
   * findings and corrections are written where they would have been had the replay waited, and
   * a rejection stops the run there.
   */
  defer(pending: Promise<(out: StageOutput) => void>): void;
}

/**
 * A rule set plugged into the embedded replay: the same core a Cloud Function runs, fed from
 * the in-process pipeline instead of a subscription. Hooks mirror the topics of DESIGN §1: every
 * valid event (events-valid), every accepted event (events-unique), and the event-time clock.
 * A hook may return a promise (an external API check); the engine then waits for it before
 * the next line, so outputs keep input order.
 */
export interface ReplayStage {
  readonly name: string;
  /**
   * An observer that emits nothing but lines up what it sees with what is written (the report
   * page): its hooks run in output order, after any finding a pending lookup holds before them.
   */
  readonly inOutputOrder?: boolean;
  /** The watermark (highest `time` among valid events) moved forward; called before the event that moved it is applied. */
  onWatermark?(watermarkMs: number, out: StageOutput): void | Promise<void>;
  /** Every valid event, duplicates included. */
  onValid?(e: ReplayEvent, out: StageOutput): void | Promise<void>;
  /** Every accepted (first-arrival) event. */
  onAccepted?(e: ReplayEvent, out: StageOutput): void | Promise<void>;
  /** End of input: report what is due by the final watermark; return how many detections are still pending. */
  end?(watermarkMs: number, out: StageOutput): number | Promise<number>;
  /** Its own sections of summary.json, asked once at the end. */
  sections?(): StageSections;
  /** Lines for the summary's `checks` block, e.g. `{ fx: 'skipped: no --rates' }`. */
  checks?(): Record<string, string>;
}

/** What the command line hands to the stages. */
export interface StageOptions {
  /** The checking clock, epoch ms. */
  readonly now: number;
  /** The `--rates` table; without it FX checks are skipped. */
  readonly rates?: RatesFile;
  /** The environment, for Stripe and Twilio credentials: their checks run only when configured. */
  readonly env: NodeJS.ProcessEnv;
  /** Grace period and chain deadlines of the missing-event rules (default: DESIGN §3). */
  readonly gapRules?: GapRules;
  /** A correction moving amount_usd by more than this factor is held for review (default 3). */
  readonly reviewFactor?: number;
  /** Volume-anomaly settings over the defaults; `false` leaves the detector out (the bench's baseline). */
  readonly volume?: Partial<VolumeConfig> | false;
}
