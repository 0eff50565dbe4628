import type { BusinessEvent } from './events/envelope';
import { derivedId } from './ids';

/**
 * A correction event (DESIGN §3): a new event with `correctionof` = the original `id` and an `id`
 * derived from the original `id` and the rule, so a redelivered or replayed original can never
 * be corrected twice. Everything else is deterministic too: `time`, `subject` and
 * `correlationid` are the original's, so a replay writes the same bytes every run.
 */
export function buildCorrection<E extends BusinessEvent>(
  original: E,
  rule: string,
  data: E['data'],
): E {
  const correction: Record<string, unknown> = {
    specversion: '1.0',
    id: `corr-${derivedId(original.id, rule)}`,
    source: `//event-recovery/${rule}`,
    type: original.type,
    time: original.time,
    correctionof: original.id,
    data,
  };
  if (original.subject !== undefined) correction.subject = original.subject;
  if (original.correlationid !== undefined) correction.correlationid = original.correlationid;
  return correction as E;
}
