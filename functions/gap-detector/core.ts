import type { BusinessEvent } from '../../shared/events/envelope';
import { assertNever } from '../../shared/events/keys';
import type { Finding } from '../../shared/findings';
import { DueQueue } from './heap';

export const NAME = 'gap-detector';

/** Event types that open a chain, each waiting for its successor (DESIGN §3). */
export type UpstreamType = 'card.scanned' | 'lead.created' | 'crm.synced';
export type SuccessorType = 'lead.created' | 'crm.synced' | 'followup.sent';

export const SUCCESSOR_OF: Readonly<Record<UpstreamType, SuccessorType>> = {
  'card.scanned': 'lead.created',
  'lead.created': 'crm.synced',
  'crm.synced': 'followup.sent',
};

export function isUpstreamType(type: string): type is UpstreamType {
  return Object.prototype.hasOwnProperty.call(SUCCESSOR_OF, type);
}

/** The missing-event rules' settings; both the function and the replay read them. */
export interface GapRules {
  /** How long (event time) a sequence gap may stay open before it is reported. */
  readonly graceMs: number;
  /** How long (event time) each upstream type waits for its successor. */
  readonly chainDeadlinesMs: Readonly<Record<UpstreamType, number>>;
}

const MINUTE = 60_000;

export const DEFAULT_GAP_RULES: GapRules = {
  graceMs: 5 * MINUTE,
  chainDeadlinesMs: { 'card.scanned': 10 * MINUTE, 'lead.created': 15 * MINUTE, 'crm.synced': 60 * MINUTE },
};

/** The key a waiting upstream is filed under: the successor type and the id they share. */
export function awaitKey(expectedType: SuccessorType, id: string): string {
  // The type never contains '|', so the first '|' splits the key unambiguously.
  return `${expectedType}|${id}`;
}

export interface ChainRoles {
  /** The key of the upstreams this event satisfies, as a successor. */
  readonly satisfies: string | undefined;
  /** What this event waits for, as an upstream. */
  readonly awaits: { readonly upstreamType: UpstreamType; readonly expectedType: SuccessorType; readonly key: string } | undefined;
}

const NO_ROLES: ChainRoles = { satisfies: undefined, awaits: undefined };

/**
 * The chain links of DESIGN §3: card.scanned → lead.created by `card_id`, lead.created →
 * crm.synced by `lead_id`, crm.synced → followup.sent by `lead_id`. A `lead.created` without
 * `card_id` satisfies nothing but still waits for its CRM sync.
 */
export function chainRoles(event: BusinessEvent): ChainRoles {
  switch (event.type) {
    case 'card.scanned':
      return { satisfies: undefined, awaits: awaiting('card.scanned', event.data.card_id) };
    case 'lead.created':
      return {
        satisfies: event.data.card_id === undefined ? undefined : awaitKey('lead.created', event.data.card_id),
        awaits: awaiting('lead.created', event.data.lead_id),
      };
    case 'crm.synced':
      return { satisfies: awaitKey('crm.synced', event.data.lead_id), awaits: awaiting('crm.synced', event.data.lead_id) };
    case 'followup.sent':
      return { satisfies: awaitKey('followup.sent', event.data.lead_id), awaits: undefined };
    case 'lead.tagged':
    case 'call.completed':
    case 'sale.recorded':
    case 'discount.issued':
      return NO_ROLES;
    default:
      return assertNever(event);
  }
}

/** The await keys an accepted event touches: the one it satisfies, then the one it waits under. */
export function chainKeys(event: BusinessEvent): string[] {
  const roles = chainRoles(event);
  const keys: string[] = [];
  if (roles.satisfies !== undefined) keys.push(roles.satisfies);
  if (roles.awaits !== undefined) keys.push(roles.awaits.key);
  return keys;
}

function awaiting(upstreamType: UpstreamType, id: string): NonNullable<ChainRoles['awaits']> {
  const expectedType = SUCCESSOR_OF[upstreamType];
  return { upstreamType, expectedType, key: awaitKey(expectedType, id) };
}

/** An open or reported range of missing sequence numbers of one source (inclusive). */
export interface GapRange {
  readonly kind: 'gap';
  readonly source: string;
  from: bigint;
  to: bigint;
  /** The revealing event's time plus the grace period. */
  readonly deadlineMs: number;
  /** Arrival order of the revealing event: the tie-break among equal deadlines. */
  readonly order: number;
  reported: boolean;
  /** Filled completely: no longer tracked (the heap drops it lazily). */
  removed: boolean;
}

const WAITING = 0;
const SATISFIED = 1;
const REPORTED = 2;

/** An accepted upstream event waiting for its successor. */
export interface Upstream extends Omit<UpstreamSnapshot, 'payload'> {
  readonly kind: 'chain';
  readonly expectedType: SuccessorType;
  readonly key: string;
  /** Replay: the input line of the upstream event. */
  readonly line: number | undefined;
  /** The upstream event as it came, kept only when broken chains are republished. */
  readonly payload: string | undefined;
  state: typeof WAITING | typeof SATISFIED | typeof REPORTED;
}

/** Something that fell due: a gap to report, or an upstream whose successor never came. */
export type Overdue = Readonly<GapRange> | Readonly<Upstream>;

export type SequenceOutcome =
  /** The first number seen from this source: nothing before it is missing. */
  | 'first'
  /** Beyond the lowest or highest number seen; any numbers skipped now form a gap. */
  | 'extended'
  /** A number of a gap not yet reported: out-of-order arrival within the grace period. */
  | 'filled'
  /** A number of a gap already reported: the event is late. */
  | 'late'
  /** A number already seen. */
  | 'repeat';

interface SourceState {
  low: bigint;
  high: bigint;
  /** Missing ranges, sorted by `from`, disjoint, all strictly between `low` and `high`. */
  readonly gaps: GapRange[];
}

interface Slot {
  /** Upstreams waiting for this key's successor, in arrival order. */
  readonly waiting: Upstream[];
  /** Ids of upstreams already reported broken (kept only when `rememberReported`). */
  reported: string[] | undefined;
}

/** The slot of a key whose successor has arrived: any upstream filed under it is satisfied. */
const SEEN = 1;

/** Persisted form of one source's sequence state (numbers as decimal strings). */
export interface SourceSnapshot {
  readonly low: string;
  readonly high: string;
  readonly gaps: ReadonlyArray<{
    readonly from: string;
    readonly to: string;
    readonly deadlineMs: number;
    readonly order: number;
    readonly reported: boolean;
  }>;
}

export interface UpstreamSnapshot {
  readonly eventId: string;
  readonly type: UpstreamType;
  readonly source: string;
  readonly timeMs: number;
  readonly deadlineMs: number;
  readonly order: number;
  readonly payload?: string;
}

/** Persisted form of one await key's chain state. */
export interface SlotSnapshot {
  /** The successor arrived: upstreams filed later are satisfied on arrival. */
  readonly seen: boolean;
  readonly waiting: readonly UpstreamSnapshot[];
  readonly reported: readonly string[];
}

export interface CoreOptions {
  /**
   * Remember the ids of upstreams reported broken, so a redelivered upstream is not reported
   * twice. Needed where deliveries repeat (the function); replay never repeats a line.
   */
  readonly rememberReported?: boolean;
}

const NONE: readonly Overdue[] = Object.freeze([]);

function isLive(item: GapRange | Upstream): boolean {
  return item.kind === 'gap' ? !item.removed && !item.reported : item.state === WAITING;
}

function dueBefore(a: Overdue, b: Overdue): boolean {
  if (a.deadlineMs !== b.deadlineMs) return a.deadlineMs < b.deadlineMs;
  if (a.order !== b.order) return a.order < b.order;
  // The same event revealed a gap (sequence tracking) before it opened a chain (accepted events).
  if (a.kind !== b.kind) return a.kind === 'gap';
  return a.kind === 'gap' && b.kind === 'gap' && a.from < b.from;
}

/**
 * The missing-event rules of DESIGN §3 over in-memory state, with no I/O and no clock: time
 * comes in as event times and watermarks. The replay holds one for the whole log; the function
 * restores the slice of state one delivery touches (a source, or one or two await keys), applies
 * the delivery, and saves the slice again. Either way the same rules decide.
 *
 * - Sequences, per source: the numbers between the lowest and the highest seen that have not
 *   been seen, kept as ranges (a jump of a billion is one range). An event above the highest or
 *   below the lowest reveals the skipped range with deadline = its time + grace; an event inside
 *   an open range splits it (the parts keep their deadline); inside a reported one it is late.
 * - Chains: an accepted upstream waits under (successor type, key) until its deadline; the
 *   successor satisfies every upstream waiting under its key, and every later one too.
 * - Due: whatever has deadline < watermark, in deadline order, then arrival order.
 */
export class GapDetectorCore {
  private readonly sources = new Map<string, SourceState>();
  private readonly slots = new Map<string, Slot | typeof SEEN>();
  private readonly due = new DueQueue<GapRange | Upstream>(dueBefore, isLive);
  private openGaps = 0;
  private waitingChains = 0;
  private readonly rememberReported: boolean;

  constructor(
    private readonly rules: GapRules,
    options: CoreOptions = {},
  ) {
    this.rememberReported = options.rememberReported ?? false;
  }

  /** Applies the sequence number of a valid event (duplicates included: they used their number). */
  observeSequence(source: string, seq: bigint, timeMs: number, order: number): SequenceOutcome {
    const s = this.sources.get(source);
    if (s === undefined) {
      this.sources.set(source, { low: seq, high: seq, gaps: [] });
      return 'first';
    }
    if (seq > s.high) {
      if (seq > s.high + 1n) this.reveal(s, source, s.high + 1n, seq - 1n, timeMs, order, s.gaps.length);
      s.high = seq;
      return 'extended';
    }
    if (seq < s.low) {
      if (seq < s.low - 1n) this.reveal(s, source, seq + 1n, s.low - 1n, timeMs, order, 0);
      s.low = seq;
      return 'extended';
    }
    const i = findRange(s.gaps, seq);
    if (i < 0) return 'repeat';
    const r = s.gaps[i]!;
    const late = r.reported;
    if (r.from === r.to) {
      s.gaps.splice(i, 1);
      r.removed = true;
      if (!late) this.openGaps--;
    } else if (seq === r.from) {
      r.from = seq + 1n;
    } else if (seq === r.to) {
      r.to = seq - 1n;
    } else {
      const upper: GapRange = { ...r, from: seq + 1n };
      r.to = seq - 1n;
      s.gaps.splice(i + 1, 0, upper);
      if (!late) {
        this.due.push(upper);
        this.openGaps++;
      }
    }
    return late ? 'late' : 'filled';
  }

  private reveal(s: SourceState, source: string, from: bigint, to: bigint, timeMs: number, order: number, at: number): void {
    const range: GapRange = { kind: 'gap', source, from, to, deadlineMs: timeMs + this.rules.graceMs, order, reported: false, removed: false };
    if (at === s.gaps.length) s.gaps.push(range);
    else s.gaps.splice(at, 0, range);
    this.due.push(range);
    this.openGaps++;
  }

  /** Applies an accepted event to the chains: as a successor, then as an upstream. */
  observeChain(event: BusinessEvent, timeMs: number, order: number, line?: number, payload?: string): void {
    const roles = chainRoles(event);
    if (roles.satisfies !== undefined) this.satisfy(roles.satisfies);
    if (roles.awaits === undefined) return;
    const { key, upstreamType, expectedType } = roles.awaits;
    const slot = this.slots.get(key);
    if (slot === SEEN) return;
    if (slot !== undefined && knows(slot, event.id)) return;
    const upstream: Upstream = {
      kind: 'chain',
      eventId: event.id,
      type: upstreamType,
      source: event.source,
      timeMs,
      deadlineMs: timeMs + this.rules.chainDeadlinesMs[upstreamType],
      order,
      expectedType,
      key,
      line,
      payload,
      state: WAITING,
    };
    this.wait(upstream, slot);
  }

  private wait(upstream: Upstream, slot: Slot | undefined): void {
    if (slot === undefined) this.slots.set(upstream.key, { waiting: [upstream], reported: undefined });
    else slot.waiting.push(upstream);
    this.due.push(upstream);
    this.waitingChains++;
  }

  private satisfy(key: string): void {
    const slot = this.slots.get(key);
    if (slot === SEEN) return;
    if (slot !== undefined) {
      for (const u of slot.waiting) u.state = SATISFIED;
      this.waitingChains -= slot.waiting.length;
    }
    this.slots.set(key, SEEN);
  }

  /** Everything with deadline < `watermarkMs`, now reported, earliest deadline first. */
  overdue(watermarkMs: number): readonly Overdue[] {
    let top = this.due.popBefore(watermarkMs);
    if (top === undefined) return NONE;
    const out: Overdue[] = [];
    for (; top !== undefined; top = this.due.popBefore(watermarkMs)) {
      if (top.kind === 'gap') {
        if (top.removed || top.reported) continue;
        top.reported = true;
        this.openGaps--;
      } else {
        if (top.state !== WAITING) continue;
        top.state = REPORTED;
        this.waitingChains--;
        this.detach(top);
      }
      out.push(top);
    }
    return out;
  }

  private detach(upstream: Upstream): void {
    const slot = this.slots.get(upstream.key);
    if (slot === undefined || slot === SEEN) return;
    const i = slot.waiting.indexOf(upstream);
    if (i >= 0) slot.waiting.splice(i, 1);
    if (this.rememberReported) (slot.reported ??= []).push(upstream.eventId);
    else if (slot.waiting.length === 0) this.slots.delete(upstream.key);
  }

  /** Open gap ranges plus waiting chains: what would still be reported if time went on. */
  pending(): number {
    return this.openGaps + this.waitingChains;
  }

  /**
   * Keeps one source's state bounded: forgets reported ranges whose deadline is before
   * `forgetBeforeMs` (a late arrival there is then taken as a repeat), then, past `maxRanges`,
   * the oldest reported ones, and last reports the earliest open ones ahead of their grace period.
   * Returns the gaps so reported.
   */
  bound(source: string, forgetBeforeMs: number, maxRanges: number): readonly Overdue[] {
    const s = this.sources.get(source);
    if (s === undefined) return NONE;
    const gaps = s.gaps;
    const keep = (r: GapRange) => !r.reported || r.deadlineMs >= forgetBeforeMs;
    if (!gaps.every(keep)) replaceAll(gaps, gaps.filter(keep));
    if (gaps.length <= maxRanges) return NONE;
    const byDeadline = (a: GapRange, b: GapRange) => (dueBefore(a, b) ? -1 : dueBefore(b, a) ? 1 : 0);
    const excess = gaps.length - maxRanges;
    const drop = new Set<GapRange>(gaps.filter((r) => r.reported).sort(byDeadline).slice(0, excess));
    const early: GapRange[] = [];
    if (drop.size < excess) {
      for (const r of gaps.filter((g) => !g.reported).sort(byDeadline).slice(0, excess - drop.size)) {
        r.reported = true;
        r.removed = true;
        this.openGaps--;
        drop.add(r);
        early.push(r);
      }
    }
    replaceAll(gaps, gaps.filter((r) => !drop.has(r)));
    return early;
  }

  exportSource(source: string): SourceSnapshot | undefined {
    const s = this.sources.get(source);
    if (s === undefined) return undefined;
    return {
      low: s.low.toString(),
      high: s.high.toString(),
      gaps: s.gaps.map((r) => ({ from: r.from.toString(), to: r.to.toString(), deadlineMs: r.deadlineMs, order: r.order, reported: r.reported })),
    };
  }

  restoreSource(source: string, snapshot: SourceSnapshot): void {
    const gaps = snapshot.gaps.map(
      (g): GapRange => ({
        kind: 'gap',
        source,
        from: BigInt(g.from),
        to: BigInt(g.to),
        deadlineMs: g.deadlineMs,
        order: g.order,
        reported: g.reported,
        removed: false,
      }),
    );
    this.sources.set(source, { low: BigInt(snapshot.low), high: BigInt(snapshot.high), gaps });
    for (const g of gaps) {
      if (g.reported) continue;
      this.due.push(g);
      this.openGaps++;
    }
  }

  exportSlot(key: string): SlotSnapshot | undefined {
    const slot = this.slots.get(key);
    if (slot === undefined) return undefined;
    if (slot === SEEN) return { seen: true, waiting: [], reported: [] };
    return { seen: false, waiting: slot.waiting.map(upstreamSnapshot), reported: slot.reported ?? [] };
  }

  restoreSlot(key: string, snapshot: SlotSnapshot): void {
    if (snapshot.seen) {
      this.slots.set(key, SEEN);
      return;
    }
    const slot: Slot = { waiting: [], reported: snapshot.reported.length > 0 ? [...snapshot.reported] : undefined };
    this.slots.set(key, slot);
    for (const u of snapshot.waiting) {
      const upstream: Upstream = {
        kind: 'chain',
        eventId: u.eventId,
        type: u.type,
        source: u.source,
        timeMs: u.timeMs,
        deadlineMs: u.deadlineMs,
        order: u.order,
        expectedType: SUCCESSOR_OF[u.type],
        key,
        line: undefined,
        payload: u.payload,
        state: WAITING,
      };
      this.wait(upstream, slot);
    }
  }
}

/** Whether a slot already holds (or has reported) this upstream: a redelivery. */
function knows(slot: Slot, eventId: string): boolean {
  for (const u of slot.waiting) if (u.eventId === eventId) return true;
  return slot.reported !== undefined && slot.reported.includes(eventId);
}

function replaceAll<T>(array: T[], items: readonly T[]): void {
  array.length = 0;
  for (const item of items) array.push(item);
}

/** The index of the range holding `seq`, or -1. Recent gaps are the usual hit: try the last first. */
function findRange(gaps: readonly GapRange[], seq: bigint): number {
  let hi = gaps.length - 1;
  if (hi < 0) return -1;
  const last = gaps[hi]!;
  if (seq >= last.from) return seq <= last.to ? hi : -1;
  let lo = 0;
  hi--;
  // The last range with from <= seq.
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (gaps[mid]!.from <= seq) lo = mid + 1;
    else hi = mid - 1;
  }
  if (hi < 0) return -1;
  return seq <= gaps[hi]!.to ? hi : -1;
}

/** The persisted fields of an upstream, and only those (a payload only when there is one). */
export function upstreamSnapshot(u: UpstreamSnapshot): UpstreamSnapshot {
  const { eventId, type, source, timeMs, deadlineMs, order, payload } = u;
  return { eventId, type, source, timeMs, deadlineMs, order, ...(payload === undefined ? {} : { payload }) };
}

/** The earliest deadline among a snapshot's open gaps, if any. */
export function nextGapDeadline(snapshot: SourceSnapshot): number | undefined {
  let next: number | undefined;
  for (const g of snapshot.gaps) if (!g.reported && (next === undefined || g.deadlineMs < next)) next = g.deadlineMs;
  return next;
}

/** The earliest deadline among a slot's waiting upstreams, if any. */
export function nextChainDeadline(snapshot: SlotSnapshot): number | undefined {
  let next: number | undefined;
  for (const u of snapshot.waiting) if (next === undefined || u.deadlineMs < next) next = u.deadlineMs;
  return next;
}

/**
 * A sequence number as JSON can carry it. Numbers past 2^53 are tracked exactly but print as
 * the nearest double: the Finding type holds JSON numbers (DESIGN §4).
 */
function sequenceNumber(n: bigint): number {
  return Number(n);
}

/** The finding of DESIGN §4 for something that fell due. */
export function overdueFinding(o: Overdue): Finding {
  if (o.kind === 'gap') {
    return { kind: 'gap', action: 'reported', source: o.source, from_sequence: sequenceNumber(o.from), to_sequence: sequenceNumber(o.to) };
  }
  const line = o.line === undefined ? {} : { line: o.line };
  return { kind: 'chain_broken', action: 'reported', event_id: o.eventId, type: o.type, source: o.source, ...line, expected_type: o.expectedType };
}

export function lateFinding(event: { readonly id: string; readonly type: string; readonly source: string }): Finding {
  return { kind: 'late', action: 'reported', event_id: event.id, type: event.type, source: event.source };
}
