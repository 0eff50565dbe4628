import type { Finding } from '../../shared/findings';
import type { GapDecision } from './decider';

/**
 * A sequence number as JSON can carry it. Numbers past 2^53 are tracked exactly but print as
 * the nearest double.
 */
function sequenceNumber(n: bigint): number {
  return Number(n);
}

/** The finding of DESIGN §4 a decision makes, if it makes one. */
export function findingOf(d: GapDecision): Finding | undefined {
  switch (d.kind) {
    case 'gap_reported':
      return { kind: 'gap', action: 'reported', source: d.source, from_sequence: sequenceNumber(d.from), to_sequence: sequenceNumber(d.to) };
    case 'chain_reported': {
      const line = d.line === undefined ? {} : { line: d.line };
      return { kind: 'chain_broken', action: 'reported', event_id: d.eventId, type: d.type, source: d.source, ...line, expected_type: d.expectedType };
    }
    case 'number_counted':
      if (d.outcome === 'late') return { kind: 'late', action: 'reported', event_id: d.eventId, type: d.type, source: d.source, closes: 'gap' };
      if (d.outcome === 'jumped' && d.jump !== undefined) {
        const { nearest, bound } = d.jump;
        const distance = d.seq > nearest ? d.seq - nearest : nearest - d.seq;
        return {
          kind: 'sequence_jump',
          action: 'review',
          event_id: d.eventId,
          type: d.type,
          source: d.source,
          from_sequence: sequenceNumber(nearest),
          to_sequence: sequenceNumber(d.seq),
          reason: `sequence number ${d.seq} is ${distance} away from ${nearest}, the nearest number seen from this source (more than the bound of ${bound}): a sequence reset or a bad number; the source's later numbers are judged from where they continue`,
        };
      }
      return undefined;
    case 'chain_closed_late':
      return { kind: 'late', action: 'reported', event_id: d.eventId, type: d.type, source: d.source, closes: 'chain_broken', upstream_id: d.upstreamId };
    case 'watermark_moved':
    case 'chain_opened':
    case 'successor_arrived':
    case 'ranges_dropped':
      return undefined;
    default: {
      const never: never = d;
      throw new Error(`unhandled decision ${JSON.stringify(never)}`);
    }
  }
}

/** The findings of a list of decisions, in order. */
export function findingsOf(decisions: readonly GapDecision[]): Finding[] {
  const out: Finding[] = [];
  for (const d of decisions) {
    const f = findingOf(d);
    if (f !== undefined) out.push(f);
  }
  return out;
}
