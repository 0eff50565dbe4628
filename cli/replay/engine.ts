import { duplicateFinding, type DeduplicatorConfig } from '../../functions/deduplicator/core';
import type { BusinessEvent } from '../../shared/events/envelope';
import type { Finding } from '../../shared/findings';
import type { LineBatch } from './lines';
import type { ReplayEvent, ReplayStage, StageOutput, StageSections } from './stage';
import { WindowDedupStore, type WindowCandidate } from './window-dedup';
import { DIGEST_WORDS_PER_EVENT, prepareLine, type Prepared } from './prepare';
import { DEFAULT_MAX_BUFFERED, OrderedOutput } from './ordered-output';

export interface ReplaySummary extends StageSections {
  lines: number;
  accepted: number;
  invalid: number;
  duplicates: number;
  gaps: number;
  missing_events: number;
  chains_broken: number;
  late: number;
  corrections: number;
  review: number;
  pending: number;
  revenue_usd_cents: { recorded: number; corrected: number };
  findings_by_kind: Record<string, number>;
  checks: Record<string, string>;
  watermark: string | null;
}

/** Where a replay writes. Findings carry `line` already; an accepted event comes as its input line, line `index` of `lines`. */
export interface ReplaySink {
  finding(finding: Finding): void;
  accepted(lines: LineBatch, index: number): void;
  correction(event: BusinessEvent): void;
}

/**
 * An event as the dedup state judges it: its event is read only when one of its keys is held
 * (a duplicate, or a key taken over), so the event is decoded only then.
 */
class Candidate implements WindowCandidate {
  private e: ReplayEvent | undefined;
  digests: Uint32Array = new Uint32Array(0);
  offset = 0;
  mask = 0;

  of(e: ReplayEvent, keys: EventKeys): this {
    this.e = e;
    this.digests = keys.digests;
    this.offset = keys.offset;
    this.mask = keys.mask;
    return this;
  }

  get id(): string {
    return this.e!.id;
  }

  get event(): BusinessEvent {
    return this.e!.event;
  }

  get timeMs(): number {
    return this.e!.timeMs;
  }

  get line(): number {
    return this.e!.line;
  }
}

/** A line that is a valid event. */
type ValidLine = Extract<Prepared, { valid: true }>;

/** Where an event's key digests are. */
interface EventKeys {
  readonly mask: number;
  readonly digests: Uint32Array;
  readonly offset: number;
}

export interface EngineOptions {
  /** The checking clock (epoch ms) for the "not in the future" rule. */
  readonly now: number;
  readonly maxFutureMs: number;
  readonly dedup: DeduplicatorConfig;
  readonly stages: readonly ReplayStage[];
  /** External lookups pending at once (see {@link StageOutput.defer}); default 1: one at a time. */
  readonly maxInFlight?: number;
}

/**
 * The embedded pipeline (DESIGN §6): validation → deduplicator → stages (the deployed deduplicator validates too), in one process with
 * in-memory state, one input line at a time. Synchronous unless a stage answers with a promise.
 */
export class ReplayEngine {
  private readonly dedupState = new WindowDedupStore();
  /** The current event's key digests (reused: one event at a time). */
  private readonly digests = new Uint32Array(DIGEST_WORDS_PER_EVENT);
  /** The current event as the dedup state sees it (reused: one event at a time). */
  private readonly candidate = new Candidate();
  private readonly summary: ReplaySummary = {
    lines: 0,
    accepted: 0,
    invalid: 0,
    duplicates: 0,
    gaps: 0,
    missing_events: 0,
    chains_broken: 0,
    late: 0,
    corrections: 0,
    review: 0,
    pending: 0,
    revenue_usd_cents: { recorded: 0, corrected: 0 },
    findings_by_kind: {},
    checks: {},
    watermark: null,
  };
  private watermarkMs = Number.NEGATIVE_INFINITY;
  private readonly dedupCtx: { now: number; config: DeduplicatorConfig };
  private readonly validationCtx;
  /**
   * The line being handled and the id of its event: a finding about that event (a `late`, a
   * checker's) gets the line's number unless it names its own; a finding about something else
   * (a gap, another event's broken chain) does not.
   */
  private current: { line: number; eventId: string } | undefined;
  private readonly out: StageOutput;
  /** Keeps the sink's writes in input order while lookups are pending. */
  private readonly ordered: OrderedOutput;
  /** The stages' hooks, bound once: the per-line path allocates as little as it can. */
  private readonly hooks: {
    readonly onWatermark: ReadonlyArray<(watermarkMs: number, out: StageOutput) => void | Promise<void>>;
    readonly onValid: ReadonlyArray<(e: ReplayEvent, out: StageOutput) => void | Promise<void>>;
    readonly onAccepted: ReadonlyArray<(e: ReplayEvent, out: StageOutput) => void | Promise<void>>;
  };

  constructor(
    private readonly options: EngineOptions,
    private readonly sink: ReplaySink,
  ) {
    this.dedupCtx = { now: options.now, config: options.dedup };
    this.validationCtx = { now: options.now, config: { maxFutureMs: options.maxFutureMs } };
    this.ordered = new OrderedOutput({ maxInFlight: options.maxInFlight ?? 1, maxBuffered: DEFAULT_MAX_BUFFERED });
    this.out = {
      finding: (f) => this.emit(f),
      correction: (c, original) => this.emitCorrection(c, original),
      defer: (pending) => this.defer(pending),
    };
    const stages = options.stages;
    const hook = <A>(s: ReplayStage, h: ((arg: A, out: StageOutput) => void | Promise<void>) | undefined): Array<(arg: A, out: StageOutput) => void | Promise<void>> => {
      if (!h) return [];
      const bound = h.bind(s);
      if (!s.inOutputOrder) return [bound];
      return [(arg, out) => (this.ordered.idle ? void bound(arg, out) : this.ordered.write(() => void bound(arg, out)))];
    };
    this.hooks = {
      onWatermark: stages.flatMap((s) => hook(s, s.onWatermark)),
      onValid: stages.flatMap((s) => hook(s, s.onValid)),
      onAccepted: stages.flatMap((s) => hook(s, s.onAccepted)),
    };
  }

  /** Feeds one input line, line `i` of `lines`. Returns a promise only when a stage did. */
  line(lines: LineBatch, i: number): void | Promise<void> {
    return this.prepared(prepareLine(lines, i, this.validationCtx, this.digests, 0), this.digests, 0);
  }

  /**
   * Feeds one line already prepared (by `prepareLine`, here or in a worker), in input order: the
   * order-dependent part. Its key digests are at `DIGEST_WORDS_PER_EVENT × index` of `digests`.
   */
  prepared(p: Prepared, digests: Uint32Array, index: number): void | Promise<void> {
    this.ordered.check();
    const done = this.process(p, digests, index);
    // Backpressure: the next line waits while as many lookups as allowed are pending.
    return done ? done.then(() => this.ordered.ready()) : this.ordered.ready();
  }

  private process(p: Prepared, digests: Uint32Array, index: number): void | Promise<void> {
    this.summary.lines++;
    this.current = undefined;
    if (!p.valid) {
      this.emit({ ...p.finding, line: p.number });
      return;
    }
    const e = p.e;
    this.current = { line: p.number, eventId: e.id };
    const keys = { mask: p.mask, digests, offset: index * DIGEST_WORDS_PER_EVENT };
    if (e.timeMs > this.watermarkMs) {
      const advanced = this.advance(e.timeMs);
      if (advanced) return advanced.then(() => this.afterWatermark(e, p, keys));
    }
    return this.afterWatermark(e, p, keys);
  }

  private afterWatermark(e: ReplayEvent, p: ValidLine, keys: EventKeys): void | Promise<void> {
    const valid = this.runHooks(this.hooks.onValid, e);
    if (valid) return valid.then(() => this.dedup(e, p, keys));
    return this.dedup(e, p, keys);
  }

  private advance(watermarkMs: number): void | Promise<void> {
    this.watermarkMs = watermarkMs;
    this.dedupState.evictBefore(watermarkMs - this.options.dedup.windowMs);
    return this.runHooks(this.hooks.onWatermark, watermarkMs);
  }

  private dedup(e: ReplayEvent, p: ValidLine, keys: EventKeys): void | Promise<void> {
    // Each line is its own delivery and is never redelivered: no lease to wait for or take over.
    const candidate = this.candidate.of(e, keys);
    const judgement = this.dedupState.judgeAndClaim(candidate, this.dedupCtx);
    if (judgement.kind === 'duplicate') {
      this.emit({ ...duplicateFinding(e, judgement.basis, judgement.duplicateOf), line: e.line });
      return;
    }
    if (judgement.kind !== 'accept') throw new Error(`replay line ${e.line} judged ${judgement.kind}: lines are never redelivered`);
    this.summary.accepted++;
    if (e.type === 'sale.recorded') {
      const sale = e.event;
      if (sale.type === 'sale.recorded') {
        this.summary.revenue_usd_cents.recorded += sale.data.amount_usd;
        this.summary.revenue_usd_cents.corrected += sale.data.amount_usd;
      }
    }
    if (this.ordered.idle) this.sink.accepted(p.lines, p.index);
    else this.ordered.write(() => this.sink.accepted(p.lines, p.index));
    return this.runHooks(this.hooks.onAccepted, e);
  }

  /** Calls `hooks` in order, staying synchronous until one returns a promise. */
  private runHooks<A>(hooks: ReadonlyArray<(arg: A, out: StageOutput) => void | Promise<void>>, arg: A, from = 0): void | Promise<void> {
    for (let i = from; i < hooks.length; i++) {
      const result = hooks[i]!(arg, this.out);
      if (result) return result.then(() => this.runHooks(hooks, arg, i + 1));
    }
  }

  /** End of input: stages report what is due and count what is pending. */
  async end(): Promise<ReplaySummary> {
    await this.ordered.drain();
    this.current = undefined;
    for (const stage of this.options.stages) {
      if (stage.end) this.summary.pending += await stage.end(this.watermarkMs, this.out);
      if (stage.checks) Object.assign(this.summary.checks, stage.checks());
      if (stage.sections) Object.assign(this.summary, stage.sections());
    }
    this.summary.watermark = Number.isFinite(this.watermarkMs) ? new Date(this.watermarkMs).toISOString() : null;
    return this.summary;
  }

  /** The run stopped early: lookups still pending are let go and write nothing. */
  stop(): void {
    this.ordered.stop();
  }

  /**
   * A stage's lookup for the current event: what it emits once settled goes where it would have
   * gone had the engine waited for it, with the line of the event it is about.
   */
  private defer(pending: Promise<(out: StageOutput) => void>): void {
    const current = this.current;
    const out: StageOutput = {
      finding: (f) => this.emit(f, current),
      correction: (c, original) => this.emitCorrection(c, original),
      defer: () => {
        throw new Error('a deferred output cannot defer again');
      },
    };
    this.ordered.hold(pending.then((apply) => () => apply(out)));
  }

  private emit(finding: Finding, c = this.current): void {
    const f = finding.line === undefined && c !== undefined && finding.event_id !== undefined && finding.event_id === c.eventId ? { ...finding, line: c.line } : finding;
    // Counted when written, so that summary.json's keys come in the order of findings.ndjson.
    if (this.ordered.idle) this.write(f);
    else this.ordered.write(() => this.write(f));
  }

  private write(f: Finding): void {
    const s = this.summary;
    s.findings_by_kind[f.kind] = (s.findings_by_kind[f.kind] ?? 0) + 1;
    switch (f.kind) {
      case 'invalid':
        s.invalid++;
        break;
      case 'duplicate':
        s.duplicates++;
        break;
      case 'gap':
        s.gaps++;
        s.missing_events += Number(BigInt(f.to_sequence) - BigInt(f.from_sequence)) + 1;
        break;
      case 'late':
        s.late++;
        break;
      case 'chain_broken':
        s.chains_broken++;
        break;
      default:
        break;
    }
    if (f.action === 'review') s.review++;
    this.sink.finding(f);
  }

  private emitCorrection(correction: BusinessEvent, original: BusinessEvent): void {
    if (this.ordered.idle) this.writeCorrection(correction, original);
    else this.ordered.write(() => this.writeCorrection(correction, original));
  }

  private writeCorrection(correction: BusinessEvent, original: BusinessEvent): void {
    this.summary.corrections++;
    if (correction.type === 'sale.recorded' && original.type === 'sale.recorded') {
      this.summary.revenue_usd_cents.corrected += correction.data.amount_usd - original.data.amount_usd;
    }
    this.sink.correction(correction);
  }
}
