import { judge, type DedupRecord, type DeduplicatorConfig, type Judgement } from '../../functions/deduplicator/core';
import type { BusinessEvent } from '../../shared/events/envelope';
import { businessKeyParts, contentHead } from '../../shared/events/keys';
import { begin, digest128, feedJson, feedString, finish } from './digest';
import { ProbeTable } from './probe-table';

/**
 * The deduplicator's state for embedded replay, bounded by the window instead of the log.
 *
 * Each accepted event is a row (id, event time, 96 bits of each of three key digests) in arrival order, kept
 * in chunks of 64k rows that are allocated as rows come and dropped once eviction has passed
 * them (no doubling, no copy: memory follows the rows held); one open-addressing table maps a
 * digest to the row holding it. When the watermark
 * moves, rows whose event time is older than watermark − window are evicted from the head of the
 * rows: no later event within the window of the watermark can match them (DESIGN §3), so the
 * findings are those of an unbounded state on every log whose duplicates arrive before the
 * watermark has passed their original by more than the window. Eviction goes in arrival order:
 * a row holds the ones behind it until its own time expires, which bounds the state by what
 * arrives while the watermark advances one window.
 *
 * Keys are digests (digest.ts) of which a row keeps 96 bits; a table entry names its rule, so
 * the three rules never meet. The `id` rule compares the stored id exactly on a hit, so two ids
 * never collide. For the business-key and content rules a collision of two different keys would
 * be a false duplicate: with n keys held at once its probability is about n²/2^97: 3e-16 for the
 * 7e6 keys a 7-day window holds at 10M events over 30 days, 6e-15 even if all 3e7 keys of 10M
 * events were held at once (1e-12 would take 4e8 keys held at once).
 */

/** Words (u32) per digest as `keyDigests` writes them, and as a row keeps them (96 bits). */
const DIGEST_WORDS = 4;
const KEPT_WORDS = 3;
const KEYS = 3; // id, business_key, content: the bases in rule order
const ROW_WORDS = KEPT_WORDS * KEYS;
const BASES = ['id', 'business_key', 'content'] as const;
const BUSINESS_KEY_BIT = 0b010; // the business key's bit in a mask

/**
 * The key digests of an event, in rule order, written into `out` at `offset` (12 words); returns
 * which keys exist as a bit mask (bit i for basis i: the business key may be absent). The keys
 * are those of `dedupKeys`: the id; the parts of `businessKey`; the content key's head and data,
 * fed as they are (feedJson) rather than joined into the texts the function's keys hash, which
 * equal keys still share and different ones do not.
 */
export function keyDigests(event: BusinessEvent, canonicalTime: string, out: Uint32Array, offset: number): number {
  digest128(event.id, out, offset);
  const bk = businessKeyParts(event);
  let mask = 0b111;
  if (bk === undefined) {
    mask &= ~BUSINESS_KEY_BIT;
    out.fill(0, offset + DIGEST_WORDS, offset + 2 * DIGEST_WORDS);
  } else {
    begin();
    for (let i = 0; i < bk.length; i++) feedString(bk[i]!);
    finish(out, offset + DIGEST_WORDS);
  }
  begin();
  const head = contentHead(event, canonicalTime);
  for (let i = 0; i < head.length; i++) feedString(head[i]!);
  feedJson(event.data);
  finish(out, offset + 2 * DIGEST_WORDS);
  return mask;
}

export interface WindowCandidate {
  readonly id: string;
  /** Read only when one of the keys is held. */
  readonly event: BusinessEvent;
  readonly timeMs: number;
  /** The input line: a replay's delivery identity. */
  readonly line: number;
  /** `keyDigests` of the event and its mask. */
  readonly digests: Uint32Array;
  readonly offset: number;
  readonly mask: number;
}

export interface WindowContext {
  readonly now: number;
  readonly config: DeduplicatorConfig;
}

/** Rows per chunk: 2^16 (about 4 MB); how rows map to slots: table values must fit an Int32. */
const CHUNK_BITS = 16;
const SLOT_BITS = 29; // 1 + slot × 3 + basis < 2^31
const SLOT_MASK = (1 << SLOT_BITS) - 1;
const MAX_ROWS = 1 << SLOT_BITS;

/**
 * 64k rows: ids, event times, key masks and digests. The ids are code units one after the
 * other in `idChars` (row i's from `idEnds[i - 1]` to `idEnds[i]`), not a string each: a window
 * of millions of strings would be that many objects for every major GC to mark. One byte a unit
 * while every id of the chunk is Latin-1 (the usual ASCII ids), two from the first one that is not.
 */
interface Chunk {
  idChars: Uint8Array | Uint16Array;
  readonly idEnds: Uint32Array;
  readonly times: Float64Array;
  /** Which of its keys (bit per basis) the row holds in the table: cleared when a later event takes a key over. */
  readonly masks: Uint8Array;
  readonly digests: Uint32Array;
}

function newChunk(rows: number): Chunk {
  return { idChars: new Uint8Array(rows * 16), idEnds: new Uint32Array(rows), times: new Float64Array(rows), masks: new Uint8Array(rows), digests: new Uint32Array(rows * ROW_WORDS) };
}

/** Where row `i`'s id starts in its chunk's `idChars`. */
function idStart(chunk: Chunk, i: number): number {
  return i === 0 ? 0 : chunk.idEnds[i - 1]!;
}

/** Whether row `i` of the chunk holds exactly this id. */
function sameId(chunk: Chunk, i: number, id: string): boolean {
  const start = idStart(chunk, i);
  if (chunk.idEnds[i]! - start !== id.length) return false;
  const chars = chunk.idChars;
  for (let k = 0; k < id.length; k++) if (chars[start + k] !== id.charCodeAt(k)) return false;
  return true;
}

/** Appends `id` as row `i`'s (rows are filled in order), growing or widening the chunk's characters if needed. */
function storeId(chunk: Chunk, i: number, id: string): void {
  const start = idStart(chunk, i);
  const end = start + id.length;
  let wide = chunk.idChars instanceof Uint16Array;
  if (!wide) for (let k = 0; k < id.length && !wide; k++) wide = id.charCodeAt(k) > 0xff;
  const rows = chunk.idEnds.length;
  if (end > chunk.idChars.length || wide !== chunk.idChars instanceof Uint16Array) {
    // Room for the rest of the chunk at the ids' mean length so far, plus a tenth.
    const size = Math.max(end, chunk.idChars.length, Math.ceil((end / (i + 1)) * rows * 1.1));
    const grown = wide ? new Uint16Array(size) : new Uint8Array(size);
    grown.set(chunk.idChars.subarray(0, start));
    chunk.idChars = grown;
  }
  for (let k = 0; k < id.length; k++) chunk.idChars[start + k] = id.charCodeAt(k);
  chunk.idEnds[i] = end;
}

/** What `judge` answers when no key names an accepted event: the common case, without a call. */
const FIRST_ARRIVAL: Judgement = Object.freeze({ kind: 'accept', takeover: false });

export class WindowDedupStore {
  // Rows [head, next) are live; row r is in slot r & SLOT_MASK, in chunk slot >>> chunkBits.
  private readonly chunks: Array<Chunk | undefined>;
  private readonly chunkMask: number;
  /** A chunk eviction emptied, kept for the next one needed (no allocation in the steady state). */
  private spare: Chunk | undefined;
  private head = 0;
  private next = 0;
  // The table: each value is 1 + (row slot * 3 + basis), homed by that key's first digest word.
  private readonly table: ProbeTable;
  // Reused by judge: what the state holds under each key of the candidate.
  private readonly existing: Array<DedupRecord | undefined> = [undefined, undefined, undefined];
  // The candidate's keys as `judge` sees them (it reads only their bases): with and without a business key.
  private readonly allKeys = BASES.map((basis) => ({ basis, key: '' }));
  private readonly noBusinessKey = [this.allKeys[0]!, this.allKeys[2]!];

  /**
   * `chunkBits`: rows per chunk as a power of two; `tableSlots`: the table's first size, a power
   * of two (both smaller in tests, to pass many chunks and doublings).
   */
  constructor(
    private readonly chunkBits = CHUNK_BITS,
    tableSlots = 1 << 18,
  ) {
    this.chunks = new Array<Chunk | undefined>(MAX_ROWS >>> chunkBits);
    this.chunkMask = (1 << chunkBits) - 1;
    this.table = new ProbeTable(
      tableSlots,
      (value) => this.homeWord(value),
      (put) => this.refile(put),
    );
  }

  /** How many accepted events are held. */
  get rows(): number {
    return this.next - this.head;
  }

  /** How many keys are held, over all rules. */
  get size(): number {
    return this.table.size;
  }

  /**
   * Judges the candidate with the deduplicator's own `judge` and, when it is accepted, claims its
   * keys. Lines are never redelivered, so the judgement is `accept` or `duplicate`.
   */
  judgeAndClaim(c: WindowCandidate, ctx: WindowContext): Judgement {
    const existing = this.existing;
    let n = 0;
    let found = 0;
    for (let b = 0; b < KEYS; b++) {
      if ((c.mask & (1 << b)) === 0) continue;
      const at = this.find(c.digests, c.offset + b * DIGEST_WORDS, b, b === 0 ? c.id : undefined);
      if (at >= 0) found++;
      existing[n++] = at < 0 ? undefined : this.record(this.slotOf(at));
    }
    if (found === 0) {
      // `judge` over no records accepts: skip the call and its candidate.
      this.claim(c, true);
      return FIRST_ARRIVAL;
    }
    existing.length = n;
    const keys = (c.mask & BUSINESS_KEY_BIT) === 0 ? this.noBusinessKey : this.allKeys;
    const judgement = judge({ event: c.event, timeMs: c.timeMs, ingestId: `${c.line}`, keys }, existing, ctx);
    if (judgement.kind === 'accept') this.claim(c, false);
    return judgement;
  }

  /** Forgets the accepted events whose time is before `ms` (watermark − window), oldest arrivals first. */
  evictBefore(ms: number): void {
    while (this.head < this.next) {
      const slot = this.head & SLOT_MASK;
      const chunk = this.chunks[slot >>> this.chunkBits]!;
      const i = slot & this.chunkMask;
      if (chunk.times[i]! >= ms) return;
      for (let b = 0; b < KEYS; b++) {
        if ((chunk.masks[i]! & (1 << b)) === 0) continue;
        // Only if the key still names this row: a later accepted event may have taken it over.
        const at = this.table.locate(1 + slot * KEYS + b);
        if (at >= 0) this.table.remove(at);
      }
      this.head++;
      if (i === this.chunkMask) {
        // The chunk's last row is gone, and the next row is in another chunk.
        this.chunks[slot >>> this.chunkBits] = undefined;
        this.spare = chunk;
      }
    }
  }

  /**
   * What the deduplicator's state holds for the row in `slot`. A replay line is delivered once,
   * so a held row is never the delivery being judged: its ingest id (the line) is not kept, and
   * the empty one here never equals a candidate's.
   */
  private record(slot: number): DedupRecord {
    const chunk = this.chunks[slot >>> this.chunkBits]!;
    const i = slot & this.chunkMask;
    const eventId = String.fromCharCode(...chunk.idChars.subarray(idStart(chunk, i), chunk.idEnds[i]!));
    return { eventId, eventTimeMs: chunk.times[i]!, ingestId: '', leaseUntil: Number.NEGATIVE_INFINITY };
  }

  private slotOf(tableSlot: number): number {
    return Math.floor((this.table.slots[tableSlot]! - 1) / KEYS);
  }

  /**
   * Files an accepted candidate as the newest row, under each of its keys (the claim of
   * `claimRecord`: its id and time); `absent`: none of its keys is in the table.
   */
  private claim(c: WindowCandidate, absent: boolean): void {
    if (this.next - this.head >= MAX_ROWS) throw new Error(`replay dedup: more than ${MAX_ROWS} accepted events within one window`);
    const slot = this.next & SLOT_MASK;
    const i = slot & this.chunkMask;
    let chunk = this.chunks[slot >>> this.chunkBits];
    if (chunk === undefined) {
      chunk = this.spare ?? newChunk(this.chunkMask + 1);
      this.spare = undefined;
      this.chunks[slot >>> this.chunkBits] = chunk;
    }
    // Room for its keys first: a doubling files the keys of the rows held, and this one's are not yet.
    this.table.reserve(KEYS);
    this.next++;
    storeId(chunk, i, c.id);
    chunk.times[i] = c.timeMs;
    chunk.masks[i] = c.mask;
    for (let b = 0, to = i * ROW_WORDS; b < KEYS; b++, to += KEPT_WORDS) {
      const from = c.offset + b * DIGEST_WORDS;
      chunk.digests[to] = c.digests[from]!;
      chunk.digests[to + 1] = c.digests[from + 1]!;
      chunk.digests[to + 2] = c.digests[from + 2]!;
    }
    for (let b = 0; b < KEYS; b++) {
      if ((c.mask & (1 << b)) === 0) continue;
      const value = 1 + slot * KEYS + b;
      const from = c.offset + b * DIGEST_WORDS;
      const at = absent ? -1 : this.find(c.digests, from, b, b === 0 ? c.id : undefined);
      if (at >= 0) {
        // The key's earlier holder is outside the window (Map.set semantics): its row no longer holds the key.
        const held = Math.floor((this.table.slots[at]! - 1) / KEYS);
        this.chunks[held >>> this.chunkBits]!.masks[held & this.chunkMask]! &= ~(1 << b);
        this.table.slots[at] = value;
      } else {
        this.table.insertHomed(value, c.digests[from]!);
      }
    }
  }

  /**
   * Files every key the live rows hold (their mask bits) with `put`, rows in arrival order: the
   * table's doubling reads the rows one after the other instead of one at random per key.
   */
  private refile(put: (value: number, home: number) => void): void {
    for (let r = this.head; r < this.next; r++) {
      const slot = r & SLOT_MASK;
      const chunk = this.chunks[slot >>> this.chunkBits]!;
      const i = slot & this.chunkMask;
      const mask = chunk.masks[i]!;
      for (let b = 0; b < KEYS; b++) if ((mask & (1 << b)) !== 0) put(1 + slot * KEYS + b, chunk.digests[i * ROW_WORDS + b * KEPT_WORDS]!);
    }
  }

  /** The first digest word of the key a table value names (its home in the table). */
  private homeWord(value: number): number {
    const slot = Math.floor((value - 1) / KEYS);
    const b = value - 1 - slot * KEYS;
    return this.chunks[slot >>> this.chunkBits]!.digests[(slot & this.chunkMask) * ROW_WORDS + b * KEPT_WORDS]!;
  }

  /** The table slot holding the digest at `words[offset]` under `basis` (and, for ids, that id), or -1. */
  private find(words: Uint32Array, offset: number, basis: number, id: string | undefined): number {
    const { slots, mask: tableMask } = this.table;
    let at = words[offset]! & tableMask;
    for (;;) {
      const value = slots[at]!;
      if (value === 0) return -1;
      const slot = Math.floor((value - 1) / KEYS);
      const b = value - 1 - slot * KEYS;
      if (b === basis) {
        const chunk = this.chunks[slot >>> this.chunkBits]!;
        const i = slot & this.chunkMask;
        const o = i * ROW_WORDS + b * KEPT_WORDS;
        const d = chunk.digests;
        if (d[o] === words[offset] && d[o + 1] === words[offset + 1] && d[o + 2] === words[offset + 2] && (id === undefined || sameId(chunk, i, id))) {
          return at;
        }
      }
      at = (at + 1) & tableMask;
    }
  }
}
