import { validate, type ValidatorContext } from '../../functions/validator/core';
import { invalidFinding, type Finding } from '../../shared/findings';
import type { BusinessEvent } from '../../shared/events/envelope';
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
  return { valid: true, number: line.number, text: line.text, event: decision.event, timeMs: decision.timeMs, mask };
}

/** A reason with what the line splitter noticed about the line (bare carriage returns). */
function noted(reason: string, note: string | undefined): string {
  return note === undefined ? reason : `${reason} (${note})`;
}
