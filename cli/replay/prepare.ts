import { validate, type ValidatorContext } from '../../functions/validator/core';
import { invalidFinding, type Finding } from '../../shared/findings';
import type { BusinessEvent } from '../../shared/events/envelope';
import { inEnvelopeOrder } from '../../shared/events/compiled';
import type { Line } from './lines';
import { keyDigests } from './window-dedup';

/** Words of `keyDigests` per event. */
export const DIGEST_WORDS_PER_EVENT = 12;

/**
 * One input line with everything about it that does not depend on other lines: whether it is a
 * valid event, its instant, and its dedup key digests (written into a shared array at
 * `DIGEST_WORDS_PER_EVENT × index`). The single-threaded engine and the workers both call
 * `prepareLine`, so both paths apply the same rules.
 */
export type Prepared =
  | { readonly valid: false; readonly number: number; readonly finding: Finding }
  | {
      readonly valid: true;
      readonly number: number;
      readonly text: string;
      readonly event: BusinessEvent;
      readonly timeMs: number;
      /** Which of the three keys exist (see keyDigests). */
      readonly mask: number;
      /** The line's JSON as decoded: `event` is the schema's copy of it. */
      readonly decoded: unknown;
    };

export function prepareLine(line: Line, ctx: ValidatorContext, digests: Uint32Array, index: number): Prepared {
  if (line.invalid !== undefined) return { valid: false, number: line.number, finding: invalidFinding({}, line.invalid) };
  if (line.tooLong !== undefined) {
    return { valid: false, number: line.number, finding: invalidFinding({}, noted(`line is ${line.tooLong} bytes, over the 1 MiB limit`, line.note)) };
  }
  if (line.text.trim() === '') return { valid: false, number: line.number, finding: invalidFinding({}, 'blank line') };
  const decision = validate(line.text, ctx);
  if (decision.kind === 'invalid') {
    const finding = line.note === undefined ? decision.finding : { ...decision.finding, reason: noted(decision.finding.reason ?? '', line.note) };
    return { valid: false, number: line.number, finding };
  }
  const mask = keyDigests(decision.event, decision.canonicalTime, digests, index * DIGEST_WORDS_PER_EVENT);
  return { valid: true, number: line.number, text: line.text, event: decision.event, timeMs: decision.timeMs, mask, decoded: decision.decoded };
}

/**
 * A batch of lines prepared off the main thread, in the compact form it is sent back in (see
 * worker.ts): per line, the event's instant (NaN for a line that is not a valid event) and key
 * mask; the key digests; the findings of the lines that are not valid events; and, for a valid
 * event whose validated form (zod's copy, key order and all) is not what its text decodes to with
 * its envelope's keys put in the schema's order (`inEnvelopeOrder`), that form's JSON.
 */
export interface CompactBatch {
  readonly times: Float64Array<ArrayBuffer>;
  readonly masks: Uint8Array<ArrayBuffer>;
  readonly digests: Uint32Array<ArrayBuffer>;
  /** Index in the batch → the finding of a line that is not a valid event. */
  readonly invalid: ReadonlyMap<number, Finding>;
  /** Index in the batch → the JSON of a valid event whose text decodes to something else. */
  readonly rewritten: ReadonlyMap<number, string>;
}

export function compactBatch(lines: readonly Line[], ctx: ValidatorContext): CompactBatch {
  const times = new Float64Array(lines.length);
  const masks = new Uint8Array(lines.length);
  const digests = new Uint32Array(lines.length * DIGEST_WORDS_PER_EVENT);
  const invalid = new Map<number, Finding>();
  const rewritten = new Map<number, string>();
  for (let i = 0; i < lines.length; i++) {
    const p = prepareLine(lines[i]!, ctx, digests, i);
    if (!p.valid) {
      times[i] = Number.NaN;
      invalid.set(i, p.finding);
      continue;
    }
    times[i] = p.timeMs;
    masks[i] = p.mask;
    // Decoding the text gives the decoded value again: when the schema's copy has the same keys
    // in the same order once the envelope's are in the schema's order, it gives the event. The
    // schema declares `type` after `time`, and producers (the generator, the examples) write it
    // before: sending each such event's JSON instead cost the worker a stringify per event and
    // the main thread nothing less (measured: 13.6 % of the worker's profile).
    if (!sameJson(inEnvelopeOrder(p.decoded as Record<string, unknown>), p.event)) rewritten.set(i, JSON.stringify(p.event));
  }
  return { times, masks, digests, invalid, rewritten };
}

/**
 * Line `index` of a batch that `compactBatch` prepared, as `prepareLine` would have prepared it:
 * the event is decoded from its text (or its rewritten JSON), which gives the validated event.
 */
export function preparedAt(lines: readonly Line[], batch: CompactBatch, index: number): Prepared {
  const line = lines[index]!;
  const finding = batch.invalid.get(index);
  if (finding !== undefined) return { valid: false, number: line.number, finding };
  const text = line.text!;
  const rewritten = batch.rewritten.get(index);
  const event = (rewritten === undefined ? inEnvelopeOrder(JSON.parse(text) as Record<string, unknown>) : JSON.parse(rewritten)) as BusinessEvent;
  return { valid: true, number: line.number, text, event, timeMs: batch.times[index]!, mask: batch.masks[index]!, decoded: event };
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
