import { SUCCESSOR_OF, type SuccessorType, type UpstreamType } from './chains';

/**
 * Chain state per await key (successor type and the id the two events share): the upstreams
 * waiting for that successor, and those already reported broken, until the successor comes.
 */

export const WAITING = 0;
export const SATISFIED = 1;
export const REPORTED = 2;

/** An accepted upstream event waiting for its successor. */
export interface Upstream {
  readonly kind: 'chain';
  readonly eventId: string;
  readonly type: UpstreamType;
  readonly source: string;
  readonly timeMs: number;
  readonly deadlineMs: number;
  /** Arrival order: the tie-break among equal deadlines. */
  readonly order: number;
  readonly expectedType: SuccessorType;
  readonly key: string;
  /** Replay: the input line of the upstream event. */
  readonly line: number | undefined;
  /** The upstream event as it came, kept only when broken chains are republished. */
  readonly payload: string | undefined;
  state: typeof WAITING | typeof SATISFIED | typeof REPORTED;
}

/** A new waiting upstream (one literal shape for every upstream: the schedule compares many of them). */
export function newUpstream(
  key: string,
  eventId: string,
  type: UpstreamType,
  source: string,
  timeMs: number,
  deadlineMs: number,
  order: number,
  line: number | undefined,
  payload: string | undefined,
): Upstream {
  return { kind: 'chain', eventId, type, source, timeMs, deadlineMs, order, expectedType: SUCCESSOR_OF[type], key, line, payload, state: WAITING };
}

export interface Slot {
  /** Upstreams waiting for this key's successor, in arrival order. */
  readonly waiting: Upstream[];
  /** Ids of upstreams reported broken, in report order: a successor that comes now closes them late. */
  reported: string[];
}

/** The slot of a key whose successor has arrived: any upstream filed under it is satisfied. */
export const SEEN = 1;
export type SlotState = Slot | typeof SEEN;

/** The waiting upstream with this id, if any. */
export function waitingUpstream(slot: Slot, eventId: string): Upstream | undefined {
  for (const u of slot.waiting) if (u.eventId === eventId) return u;
  return undefined;
}

/**
 * Files a reported upstream's id, once. The list is copied, not grown: a grown array keeps room
 * for 16 more, and replay holds a retention's worth of these lists, most with one id.
 */
export function fileReported(slot: Slot, eventId: string): void {
  if (!slot.reported.includes(eventId)) slot.reported = slot.reported.length === 0 ? [eventId] : [...slot.reported, eventId];
}
