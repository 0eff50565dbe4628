import { validate, type ValidationContext } from '../../functions/deduplicator/core-validation';
import type { ChainEvent } from '../../functions/gap-detector/core';
import { invalidFinding, type Finding } from '../../shared/findings';
import { eventTypes, type EventType } from '../../shared/events/catalog';
import type { BusinessEvent } from '../../shared/events/envelope';
import { inEnvelopeOrder, sameInEnvelopeOrder } from '../../shared/events/compiled';
import { lineAt, textOf, type Line, type LineBatch } from './lines';
import { replayEvent, type ReplayEvent } from './stage';
import { keyDigests } from './window-dedup';

/** Words of `keyDigests` per event. */
export const DIGEST_WORDS_PER_EVENT = 12;

/**
 * One input line with everything about it that does not depend on other lines: whether it is a
 * valid event, the event with its instant, and its dedup key digests (written into a shared array at
 * `DIGEST_WORDS_PER_EVENT × index`). The single-threaded engine calls `prepareLine`; the workers
 * call `checkLine`, which it is made of, so both paths apply the same rules.
 */
export type Prepared =
  | { readonly valid: false; readonly number: number; readonly finding: Finding }
  | {
      readonly valid: true;
      readonly number: number;
      /** The line is line `index` of `lines`: events.ndjson copies its bytes when the event is accepted. */
      readonly lines: LineBatch;
      readonly index: number;
      readonly e: ReplayEvent;
      /** Which of the three keys exist (see keyDigests). */
      readonly mask: number;
    };

/** What `checkLine` finds about a line: a finding, or the validated event. */
type Checked =
  | { readonly valid: false; readonly finding: Finding }
  | {
      readonly valid: true;
      readonly event: BusinessEvent;
      readonly timeMs: number;
      readonly mask: number;
      /** The line's JSON as decoded: `event` is the schema's copy of it. */
      readonly decoded: unknown;
    };

function checkLine(line: Line, ctx: ValidationContext, digests: Uint32Array, index: number): Checked {
  if (line.invalid !== undefined) return { valid: false, finding: invalidFinding({}, line.invalid) };
  if (line.tooLong !== undefined) return { valid: false, finding: invalidFinding({}, noted(`line is ${line.tooLong} bytes, over the 1 MiB limit`, line.note)) };
  if (line.text.trim() === '') return { valid: false, finding: invalidFinding({}, 'blank line') };
  const decision = validate(line.text, ctx);
  if (decision.kind === 'invalid') {
    const finding = line.note === undefined ? decision.finding : { ...decision.finding, reason: noted(decision.finding.reason ?? '', line.note) };
    return { valid: false, finding };
  }
  const mask = keyDigests(decision.event, decision.canonicalTime, digests, index * DIGEST_WORDS_PER_EVENT);
  return { valid: true, event: decision.event, timeMs: decision.timeMs, mask, decoded: decision.decoded };
}

/** Line `i` of `lines`, its key digests written at `DIGEST_WORDS_PER_EVENT × index` of `digests`. */
export function prepareLine(lines: LineBatch, i: number, ctx: ValidationContext, digests: Uint32Array, index: number): Prepared {
  const line = lineAt(lines, i);
  const c = checkLine(line, ctx, digests, index);
  if (!c.valid) return { valid: false, number: line.number, finding: c.finding };
  return { valid: true, number: line.number, lines, index: i, e: replayEvent(c.event, c.timeMs, line.number), mask: c.mask };
}

/** Fields of an event a worker sends as text (`CompactBatch.fields`), in this order. */
const FIELDS = 3;
const SEQUENCE = 0;
const CARD_ID = 1;
const LEAD_ID = 2;

/**
 * A worker's table of the sources it has sent: a batch names each event's source by its number
 * here, and carries the sources the worker had not sent before (few: producers, not events).
 */
export class SourceTable {
  private readonly numbers = new Map<string, number>();
  private added: string[] = [];

  numberOf(source: string): number {
    let n = this.numbers.get(source);
    if (n === undefined) {
      n = this.numbers.size;
      this.numbers.set(source, n);
      this.added.push(source);
    }
    return n;
  }

  /** The sources numbered since the last call, in number order. */
  takeAdded(): string[] {
    const added = this.added;
    this.added = [];
    return added;
  }
}

/**
 * A batch of lines prepared off the main thread, in the compact form it is sent back in (see
 * worker.ts): per line, the event's instant (NaN for a line that is not a valid event), key
 * mask, type and source; the key digests; the fields the rules read of every event (its id, and
 * its sequence and the ids chains link by as one text); the findings of the lines that are not valid
 * events; and, for a valid event whose validated form (zod's copy, key order and all) is not what
 * its text decodes to with its envelope's keys put in the schema's order (`inEnvelopeOrder`),
 * that form's JSON. The main thread decodes an event only when a rule reads more than that.
 */
export interface CompactBatch {
  readonly times: Float64Array<ArrayBuffer>;
  readonly masks: Uint8Array<ArrayBuffer>;
  readonly digests: Uint32Array<ArrayBuffer>;
  /** Each call.completed's `duration_seconds` (NaN for other lines). */
  readonly durations: Float64Array<ArrayBuffer>;
  /** Each event's type, as its index in `eventTypes`. */
  readonly types: Uint8Array<ArrayBuffer>;
  /** Each event's source, as its number in the worker's `SourceTable`. */
  readonly sources: Uint32Array<ArrayBuffer>;
  /** The sources this batch numbered first, in number order. */
  readonly newSources: readonly string[];
  /**
   * Each valid event's id (undefined for other lines), each its own string: the gap-detector
   * keeps the ids of chains it waits on, and a piece of a longer text would keep all of it.
   */
  readonly ids: ReadonlyArray<string | undefined>;
  /** The other fields of every valid event, one after the other; `ends` says where each ends (`FIELDS` a line). */
  readonly fields: string;
  readonly ends: Uint32Array<ArrayBuffer>;
  /** Bit `f` set: field `f` is present (a sequence, a card_id or lead_id may be absent). */
  readonly present: Uint8Array<ArrayBuffer>;
  /** Index in the batch → the finding of a line that is not a valid event. */
  readonly invalid: ReadonlyMap<number, Finding>;
  /** Index in the batch → the JSON of a valid event whose text decodes to something else. */
  readonly rewritten: ReadonlyMap<number, string>;
}

export function compactBatch(lines: LineBatch, ctx: ValidationContext, table: SourceTable): CompactBatch {
  const n = lines.length;
  const times = new Float64Array(n);
  const masks = new Uint8Array(n);
  const durations = new Float64Array(n).fill(Number.NaN);
  const digests = new Uint32Array(n * DIGEST_WORDS_PER_EVENT);
  const types = new Uint8Array(n);
  const sources = new Uint32Array(n);
  const ends = new Uint32Array(n * FIELDS);
  const present = new Uint8Array(n);
  const invalid = new Map<number, Finding>();
  const rewritten = new Map<number, string>();
  const ids = new Array<string | undefined>(n).fill(undefined);
  const parts: string[] = [];
  let length = 0;
  const field = (i: number, f: number, value: unknown) => {
    if (typeof value === 'string') {
      parts.push(value);
      length += value.length;
      present[i]! |= 1 << f;
    }
    ends[i * FIELDS + f] = length;
  };
  for (let i = 0; i < n; i++) {
    const p = checkLine(lineAt(lines, i), ctx, digests, i);
    if (!p.valid) {
      times[i] = Number.NaN;
      invalid.set(i, p.finding);
      for (let f = 0; f < FIELDS; f++) ends[i * FIELDS + f] = length;
      continue;
    }
    const event = p.event;
    times[i] = p.timeMs;
    masks[i] = p.mask;
    types[i] = TYPE_NUMBER.get(event.type)!;
    sources[i] = table.numberOf(event.source);
    if (event.type === 'call.completed') durations[i] = event.data.duration_seconds;
    const data = event.data as { readonly card_id?: unknown; readonly lead_id?: unknown };
    ids[i] = event.id;
    field(i, SEQUENCE, event.sequence);
    field(i, CARD_ID, data.card_id);
    field(i, LEAD_ID, data.lead_id);
    // Decoding the text gives the decoded value again: when the schema's copy has the same keys
    // in the same order once the envelope's are in the schema's order, it gives the event. The
    // schema declares `type` after `time`, and producers (the generator, the examples) write it
    // before: sending each such event's JSON instead cost the worker a stringify per event and
    // the main thread nothing less (measured: 13.6 % of the worker's profile).
    if (!sameInEnvelopeOrder(p.decoded as Record<string, unknown>, event as unknown as Record<string, unknown>, sameJson)) rewritten.set(i, JSON.stringify(event));
  }
  return { times, masks, durations, digests, types, sources, newSources: table.takeAdded(), ids, fields: parts.join(''), ends, present, invalid, rewritten };
}

const TYPE_NUMBER = new Map<string, number>(eventTypes.map((t, i) => [t, i]));

/**
 * Line `index` of a batch that `compactBatch` prepared, as `prepareLine` would have prepared it:
 * the event's fields from the batch, and the event itself decoded from the line's text (or its
 * rewritten JSON) only if a rule reads it. `sources`: the worker's sources by number.
 */
export function preparedAt(lines: LineBatch, batch: CompactBatch, index: number, sources: readonly string[]): Prepared {
  const number = lines.first + index;
  const finding = batch.invalid.get(index);
  if (finding !== undefined) return { valid: false, number, finding };
  return new WorkerEvent(batch, index, sources[batch.sources[index]!]!, lines, number);
}

/**
 * A valid event of a batch a worker prepared: its fields read from the batch, the event decoded
 * on first use. It is its own prepared line too: one object a line, not two.
 */
class WorkerEvent implements ReplayEvent {
  readonly valid = true;
  readonly e: ReplayEvent = this;
  readonly mask: number;
  readonly id: string;
  readonly type: EventType;
  readonly sequence: string | undefined;
  readonly timeMs: number;
  private decoded: BusinessEvent | undefined;

  constructor(
    private readonly batch: CompactBatch,
    readonly index: number,
    readonly source: string,
    readonly lines: LineBatch,
    readonly line: number,
  ) {
    this.mask = batch.masks[index]!;
    this.id = batch.ids[index]!;
    this.type = eventTypes[batch.types[index]!]!;
    this.sequence = this.field(SEQUENCE);
    this.timeMs = batch.times[index]!;
  }

  /** The line's number (Prepared's name for it). */
  get number(): number {
    return this.line;
  }

  /** Read from the batch when asked (only the call check asks): no field that is a number for some events and undefined for others. */
  get durationSeconds(): number | undefined {
    const duration = this.batch.durations[this.index]!;
    return Number.isNaN(duration) ? undefined : duration;
  }

  get event(): BusinessEvent {
    if (this.decoded === undefined) {
      const rewritten = this.batch.rewritten.get(this.index);
      this.decoded = (rewritten === undefined ? inEnvelopeOrder(JSON.parse(textOf(this.lines, this.index)) as Record<string, unknown>) : JSON.parse(rewritten)) as BusinessEvent;
    }
    return this.decoded;
  }

  get chain(): ChainEvent {
    if (this.decoded !== undefined) return this.decoded;
    const data: { card_id?: string; lead_id?: string } = {};
    const card = this.field(CARD_ID);
    const lead = this.field(LEAD_ID);
    if (card !== undefined) data.card_id = card;
    if (lead !== undefined) data.lead_id = lead;
    // The worker read these from the event the schema validated: its type, and those of its ids.
    return { id: this.id, type: this.type, source: this.source, data } as ChainEvent;
  }

  private field(f: number): string | undefined {
    const { ends, present, fields } = this.batch;
    if ((present[this.index]! & (1 << f)) === 0) return undefined;
    const at = this.index * FIELDS + f;
    const start = at === 0 ? 0 : ends[at - 1]!;
    return fields.slice(start, ends[at]!);
  }
}

/** Whether two JSON values are equal, with the keys of each object in the same order. */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object' || Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const other = b as unknown[];
    if (a.length !== other.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], other[i])) return false;
    return true;
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) {
    const key = ka[i]!;
    if (key !== kb[i] || !sameJson((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key])) return false;
  }
  return true;
}

/** A reason with what the line splitter noticed about the line (bare carriage returns). */
function noted(reason: string, note: string | undefined): string {
  return note === undefined ? reason : `${reason} (${note})`;
}
