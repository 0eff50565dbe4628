import { DueQueue } from './heap';
import type { GapRange } from './ranges';
import { WAITING, type Upstream } from './slots';

/** Something that can fall due: an open gap, or an upstream waiting for its successor. */
export type Due = GapRange | Upstream;

function isLive(item: Due): boolean {
  return item.kind === 'gap' ? !item.removed && !item.reported : item.state === WAITING;
}

/**
 * The order in which due items are reported: deadline, then arrival; the same event revealed
 * a gap (sequence tracking) before it opened a chain (accepted events); ranges low to high;
 * upstreams that arrived together by id (a total order: the same answer however they were filed).
 */
export function dueBefore(a: Due, b: Due): boolean {
  if (a.deadlineMs !== b.deadlineMs) return a.deadlineMs < b.deadlineMs;
  if (a.order !== b.order) return a.order < b.order;
  if (a.kind !== b.kind) return a.kind === 'gap';
  if (a.kind === 'gap' && b.kind === 'gap') return a.from < b.from;
  if (a.kind === 'chain' && b.kind === 'chain') return a.eventId < b.eventId || (a.eventId === b.eventId && a.key < b.key);
  return false;
}

/** The deadline schedule of a gap-detector state: every open gap and waiting upstream. */
export function newSchedule(): DueQueue<Due> {
  return new DueQueue<Due>(dueBefore, isLive);
}
