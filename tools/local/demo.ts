/**
 * The bundled demo stream: a few hundred realistic events across the catalog of DESIGN §2, with
 * faults injected by a list of injectors, each recording the findings it should produce. The
 * local stack publishes it; `--write-demo` writes it as NDJSON for `event-recovery replay`.
 *
 * Deterministic: the same seed and clock give the same bytes. Event times lie in the two hours
 * before the clock (the validator rejects times more than 5 minutes ahead of its wall clock),
 * and every fault sits early enough that the gap-detector's watermark passes its grace period
 * or chain deadline before the stream ends.
 */
import { writeFileSync } from 'node:fs';
import { CallCompletedData, SaleRecordedData } from '../../shared/events/catalog';
import { minorUnitExponent, toUsdCents } from '../../shared/events/currency';
import { utcDate } from '../../shared/events/time';
import type { FindingFields, FindingKind } from '../../shared/findings';
import type { RatesFile } from '../../shared/rates/file';
import type { FunctionName } from '../../shared/topology';

export const DEMO_DEFAULTS = { seed: 20260301, spanMinutes: 120 } as const;

/** A CloudEvent as the demo's producers write it; loosely typed because some are broken on purpose. */
export interface DemoEvent {
  specversion: string;
  id: string;
  source: string;
  type: string;
  time: string;
  sequence?: string;
  subject?: string;
  correlationid?: string;
  data: Record<string, unknown>;
}

/** One message as it reaches events-raw, in arrival order. */
export interface DemoMessage {
  /** The payload exactly as published: a CloudEvent in structured JSON, or a broken one. */
  readonly data: string;
  /** When it reaches events-raw on the demo's clock (epoch ms). */
  readonly arrivalMs: number;
}

/**
 * A finding an injected fault should produce: the fields it must carry (compared exactly) and,
 * for `invalid`, a piece of the reason that shows it was rejected for the right reason.
 */
export interface ExpectedFinding {
  readonly match: FindingFields & { readonly kind: FindingKind };
  readonly reasonIncludes?: string;
}

/**
 * An external truth a checker compares events with: the day's exchange rates, Stripe, Twilio.
 * The local stack serves a stand-in for each; `event-recovery replay` has rates only with
 * `--rates`, Stripe and Twilio only with their credentials.
 */
export type ExternalLookup = 'rates' | 'stripe' | 'twilio';

/** One injected fault: what was done to the stream and what the pipeline should report. */
export interface InjectedFault {
  readonly injector: string;
  readonly detectedBy: FunctionName;
  /** What `detectedBy` must be able to look up to see the fault at all; nothing when absent. */
  readonly needs?: readonly ExternalLookup[];
  readonly detail: string;
  readonly expect: readonly ExpectedFinding[];
}

/** The truth behind the stream, for the local stand-ins of Stripe, Twilio and OpenExchangeRates. */
export interface DemoWorld {
  /** Units of currency per 1 USD for every UTC date of the stream. */
  readonly rates: RatesFile;
  readonly paymentIntents: PaymentIntentTruth[];
  readonly calls: CallTruth[];
}

export interface PaymentIntentTruth {
  id: string;
  /** Minor units, as Stripe counts them. */
  amount: number;
  /** Lower case, as Stripe writes it. */
  currency: string;
  status: 'succeeded' | 'processing' | 'requires_payment_method' | 'canceled';
  created: number;
}

export interface CallTruth {
  sid: string;
  from: string;
  to: string;
  /** Seconds, as Twilio reports them (a string in Twilio's JSON). */
  duration: number;
  status: 'completed' | 'busy' | 'no-answer' | 'failed' | 'canceled';
  startTime: string;
}

export interface Demo {
  readonly seed: number;
  /** The clock the stream was built against (epoch ms). */
  readonly now: number;
  readonly startMs: number;
  readonly endMs: number;
  readonly messages: readonly DemoMessage[];
  readonly faults: readonly InjectedFault[];
  readonly world: DemoWorld;
}

// ---------------------------------------------------------------------------------------------
// Randomness

/** mulberry32: small, fast and good enough for fixtures; the same seed gives the same stream. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[Math.floor(this.next() * items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  hex(length: number): string {
    let out = '';
    for (let i = 0; i < length; i++) out += '0123456789abcdef'[Math.floor(this.next() * 16)];
    return out;
  }
  alnum(length: number): string {
    const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
    let out = '';
    for (let i = 0; i < length; i++) out += chars[Math.floor(this.next() * chars.length)];
    return out;
  }
  uuid(): string {
    const h = this.hex(32);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${'89ab'[this.int(0, 3)]}${h.slice(17, 20)}-${h.slice(20)}`;
  }
}

// ---------------------------------------------------------------------------------------------
// The producers

const MINUTE = 60_000;

/** Producers that number their events (the CloudEvents sequence extension); the rest do not. */
export const SOURCES = {
  scannerIos: '//scanner/ios',
  scannerAndroid: '//scanner/android',
  leads: '//crm/leads',
  tagging: '//crm/tagging',
  crmSync: '//crm/sync',
  followups: '//messaging/followups',
  calls: '//telephony/twilio',
  checkout: '//shop/checkout',
  discounts: '//loyalty/discounts',
  partner: '//partner/import',
} as const;
const SEQUENCED: ReadonlySet<string> = new Set([
  SOURCES.scannerIos,
  SOURCES.scannerAndroid,
  SOURCES.leads,
  SOURCES.crmSync,
  SOURCES.followups,
  SOURCES.calls,
  SOURCES.checkout,
]);

/** The chain deadlines of DESIGN §3, which the injectors keep clear of the stream's end. */
const CHAIN_DEADLINE_MS = { 'lead.created': 10 * MINUTE, 'crm.synced': 15 * MINUTE, 'followup.sent': 60 * MINUTE } as const;
/** The gap grace period of DESIGN §3: the stack publishes the demo so that no reordering reaches it. */
export const GAP_GRACE_MS = 5 * MINUTE;
/** How long after its `time` an event on time arrives, at most. */
export const DELIVERY_JITTER_MS = 3000;
/** How far after its original a re-sent copy arrives: at least the grace period (see stack.ts slices). */
export const RESEND_DELAY_MS = { min: GAP_GRACE_MS, max: 8 * MINUTE };

const FIRST_NAMES = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Frances', 'Ken', 'Margaret', 'Dennis', 'Radia', 'Tim'];
const LAST_NAMES = ['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Knuth', 'Allen', 'Thompson', 'Hamilton', 'Ritchie', 'Perlman', 'Berners-Lee'];
const DOMAINS = ['example.com', 'example.org', 'acme.test', 'globex.test'];
const REPS = ['rep-anna', 'rep-bruno', 'rep-chen', 'rep-dara'];
const TAGS = ['vip', 'trade-show', 'enterprise', 'follow-up-q3', 'partner', 'hot'];
const TEMPLATES = ['welcome', 'meeting-request', 'brochure', 'pricing'];
const SKUS: Record<string, { sku: string; usd: number }[]> = {
  all: [
    { sku: 'badge-scanner-pro', usd: 24_900 },
    { sku: 'lead-sync-seat', usd: 4_900 },
    { sku: 'event-kit', usd: 12_500 },
    { sku: 'card-pack-500', usd: 1_900 },
    { sku: 'onboarding', usd: 50_000 },
  ],
};
/** A plausible rate of each currency of the demo (units per USD), varied a little per day. */
const BASE_RATES: Record<string, number> = { USD: 1, EUR: 0.9214, JPY: 151.37, KWD: 0.30742 };

interface Item {
  /** The event a producer emitted; absent for a message that is not an event at all. */
  event?: DemoEvent;
  /** The exact text published, for payloads that are not what JSON.stringify of `event` gives. */
  raw?: string;
  timeMs: number;
  arrivalMs: number;
  flow?: string;
  /** Set once an injector used this item, so no two faults interfere. */
  touched: boolean;
}

const iso = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
/** The Android scanner writes local time with an offset: the same instant, another spelling. */
const isoWithOffset = (ms: number, offsetMinutes: number) => {
  const local = new Date(Math.floor(ms / 1000) * 1000 + offsetMinutes * MINUTE).toISOString().slice(0, 19);
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  return `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
};

/**
 * The working state of a demo being built, handed to the fault injectors: the produced events,
 * the world behind them, and helpers to pick, remove and add events without two faults
 * touching the same one.
 */
export class DemoBuilder {
  readonly items: Item[] = [];
  readonly world: DemoWorld;

  readonly rng: Rng;

  constructor(
    readonly seed: number,
    /** The demo's clock. */
    readonly now: number,
    readonly startMs: number,
    readonly endMs: number,
  ) {
    this.rng = new Rng(seed);
    this.world = { rates: { base: 'USD', days: {} }, paymentIntents: [], calls: [] };
  }

  /** Adds an event a producer emitted at `timeMs`; it arrives a moment later unless told. */
  emit(event: DemoEvent, timeMs: number, flow?: string, arrivalMs?: number): Item {
    const item: Item = { event, timeMs, arrivalMs: arrivalMs ?? timeMs + this.rng.int(200, DELIVERY_JITTER_MS), touched: false, ...(flow ? { flow } : {}) };
    this.items.push(item);
    return item;
  }

  /** Adds a message whose payload is exactly `text` (a broken producer). */
  emitRaw(text: string, timeMs: number): Item {
    const item: Item = { raw: text, timeMs, arrivalMs: timeMs + this.rng.int(200, DELIVERY_JITTER_MS), touched: true };
    this.items.push(item);
    return item;
  }

  remove(item: Item): void {
    const i = this.items.indexOf(item);
    if (i >= 0) this.items.splice(i, 1);
  }

  /**
   * Picks an untouched event that satisfies `where`, marks it (and, with `wholeFlow`, every event
   * of its flow) touched. Throws when there is none: the demo is too small for its injectors.
   */
  pick(what: string, where: (item: Item & { event: DemoEvent }) => boolean, options: { wholeFlow?: boolean } = {}): Item & { event: DemoEvent } {
    const candidates = this.candidates(where, options);
    if (candidates.length === 0) throw new Error(`demo: no event left for ${what}`);
    const item = this.rng.pick(candidates);
    if (options.wholeFlow) for (const f of this.flow(item)) f.touched = true;
    item.touched = true;
    return item;
  }

  /** Whether `pick` would find an event: for a fault that is made only where the stream allows. */
  available(where: (item: Item & { event: DemoEvent }) => boolean): boolean {
    return this.candidates(where, {}).length > 0;
  }

  private candidates(where: (item: Item & { event: DemoEvent }) => boolean, options: { wholeFlow?: boolean }): Array<Item & { event: DemoEvent }> {
    return this.items.filter(
      (i): i is Item & { event: DemoEvent } =>
        i.event !== undefined && !i.touched && (!options.wholeFlow || this.flow(i).every((f) => !f.touched)) && where(i as Item & { event: DemoEvent }),
    );
  }

  /** The events of a business flow (card → lead → CRM → follow-up), in time order. */
  flow(item: Item): Item[] {
    if (!item.flow) return [item];
    return this.items.filter((i) => i.flow === item.flow).sort((a, b) => a.timeMs - b.timeMs);
  }

  /** The next event of the same producer (by sequence once numbered, else by time). */
  next(item: Item): Item | undefined {
    return this.neighbour(item, 1);
  }

  /** The previous event of the same producer. */
  previous(item: Item): Item | undefined {
    return this.neighbour(item, -1);
  }

  private neighbour(item: Item, direction: 1 | -1): Item | undefined {
    const source = item.event?.source;
    const order = (i: Item) => (i.event?.sequence === undefined ? i.timeMs : Number(i.event.sequence));
    const own = order(item);
    return this.items
      .filter((i) => i !== item && i.event?.source === source && direction * (order(i) - own) > 0)
      .sort((a, b) => direction * (order(a) - order(b)))[0];
  }

  /**
   * Whether losing or delaying this numbered event shows as a gap: a number before it arrives
   * (a gap lies between the first and the highest number seen) and so does one after it, early
   * enough for the watermark to pass the grace period before the stream ends.
   */
  gapVisible(item: Item, revealBy: number = this.endMs - GAP_GRACE_MS - 10 * MINUTE): boolean {
    const before = this.previous(item);
    const after = this.next(item);
    return before !== undefined && !before.touched && after !== undefined && !after.touched && after.timeMs <= revealBy;
  }

  /** Whether an event at `timeMs` lies where its faults show before the stream ends. */
  early(timeMs: number, leadMs: number): boolean {
    return timeMs >= this.startMs + 5 * MINUTE && timeMs + leadMs <= this.endMs;
  }

  /** A copy of an event with a new id: what a producer re-sending with fresh ids emits. */
  resend(item: Item & { event: DemoEvent }, changes: Partial<DemoEvent>, timeMs: number, arrivalMs?: number): Item & { event: DemoEvent } {
    const event: DemoEvent = { ...item.event, id: this.rng.uuid(), ...changes };
    delete event.sequence;
    const copy = this.emit(event, timeMs, undefined, arrivalMs);
    copy.touched = true;
    return copy as Item & { event: DemoEvent };
  }

  resendDelay(): number {
    return this.rng.int(RESEND_DELAY_MS.min, RESEND_DELAY_MS.max);
  }

  rate(currency: string, timeMs: number): number {
    const day = utcDate(timeMs);
    let table = this.world.rates.days[day];
    if (!table) {
      // A generator of the day's own, so a stream that crosses midnight is otherwise the same.
      const rng = new Rng(this.seed ^ Number(day.replace(/-/g, '')));
      table = {};
      for (const [code, base] of Object.entries(BASE_RATES)) {
        table[code] = code === 'USD' ? 1 : Number((base * (1 + (rng.next() - 0.5) * 0.01)).toPrecision(6));
      }
      this.world.rates.days[day] = table;
    }
    return table[currency]!;
  }
}

/** Clean traffic: business flows, calls, sales and discounts spread over the span. */
function produce(b: DemoBuilder): void {
  const { rng } = b;
  const span = b.endMs - b.startMs;
  const at = (from: number, to: number) => b.startMs + rng.int(from, to);
  const person = () => {
    const first = rng.pick(FIRST_NAMES);
    const last = rng.pick(LAST_NAMES);
    return {
      name: `${first} ${last}`,
      email: `${first}.${last}@${rng.pick(DOMAINS)}`.toLowerCase(),
      phone: `+1415555${String(rng.int(1000, 9999))}`,
    };
  };

  for (let f = 0; f < 48; f++) {
    const flow = `flow-${rng.hex(10)}`;
    const contact = person();
    const cardId = `card-${rng.hex(8)}`;
    const leadId = `lead-${rng.hex(8)}`;
    const android = rng.chance(0.4);
    const scanned = at(0, span - 4 * MINUTE);
    b.emit(
      {
        specversion: '1.0',
        id: rng.uuid(),
        source: android ? SOURCES.scannerAndroid : SOURCES.scannerIos,
        type: 'card.scanned',
        time: android ? isoWithOffset(scanned, 120) : iso(scanned),
        subject: `card/${cardId}`,
        correlationid: flow,
        data: { card_id: cardId, scanned_by: rng.pick(REPS), contact },
      },
      scanned,
      flow,
    );
    const steps: Array<{ at: number; event: Omit<DemoEvent, 'specversion' | 'id' | 'time' | 'correlationid'> }> = [];
    const created = scanned + rng.int(1 * MINUTE, 5 * MINUTE);
    steps.push({
      at: created,
      event: {
        source: SOURCES.leads,
        type: 'lead.created',
        subject: `lead/${leadId}`,
        data: { lead_id: leadId, card_id: cardId, owner_id: rng.pick(REPS).replace('rep-', 'owner-'), email: contact.email, phone: contact.phone },
      },
    });
    if (rng.chance(0.6)) {
      steps.push({
        at: created + rng.int(30_000, 3 * MINUTE),
        event: { source: SOURCES.tagging, type: 'lead.tagged', subject: `lead/${leadId}`, data: { lead_id: leadId, tags: [rng.pick(TAGS), rng.pick(TAGS)].filter((t, i, a) => a.indexOf(t) === i) } },
      });
    }
    const crm = rng.chance(0.5) ? 'hubspot' : 'salesforce';
    const synced = created + rng.int(1 * MINUTE, 8 * MINUTE);
    steps.push({
      at: synced,
      event: {
        source: SOURCES.crmSync,
        type: 'crm.synced',
        subject: `lead/${leadId}`,
        data: { lead_id: leadId, crm, crm_record_id: crm === 'hubspot' ? String(rng.int(10_000_000, 99_999_999)) : `00Q${rng.alnum(15)}`, email: contact.email },
      },
    });
    steps.push({
      at: synced + rng.int(5 * MINUTE, 40 * MINUTE),
      event: {
        source: SOURCES.followups,
        type: 'followup.sent',
        subject: `lead/${leadId}`,
        data: { lead_id: leadId, channel: rng.pick(['email', 'sms', 'imessage', 'push']), template: rng.pick(TEMPLATES), message_id: `msg-${rng.hex(12)}` },
      },
    });
    // A step that would happen after the stream ends has not happened yet: its chain is pending.
    for (const step of steps) {
      if (step.at > b.endMs) continue;
      b.emit({ specversion: '1.0', id: rng.uuid(), time: iso(step.at), correlationid: flow, ...step.event }, step.at, flow);
    }
  }

  for (let c = 0; c < 30; c++) {
    const ended = at(0, span);
    const duration = rng.int(8, 900);
    const sid = `CA${rng.hex(32)}`;
    const from = `+1415555${String(rng.int(1000, 9999))}`;
    const to = `+1212555${String(rng.int(1000, 9999))}`;
    const startedAt = iso(ended - duration * 1000);
    b.world.calls.push({ sid, from, to, duration, status: 'completed', startTime: startedAt });
    b.emit(
      {
        specversion: '1.0',
        id: rng.uuid(),
        source: SOURCES.calls,
        type: 'call.completed',
        time: iso(ended),
        subject: `call/${sid}`,
        data: { call_sid: sid, from, to, duration_seconds: duration, started_at: startedAt },
      },
      ended,
    );
  }

  for (let s = 0; s < 40; s++) {
    const time = at(0, span);
    const currency = rng.pick(['USD', 'USD', 'USD', 'USD', 'EUR', 'EUR', 'JPY', 'KWD']);
    const rate = b.rate(currency, time);
    const exponent = minorUnitExponent(currency)!;
    const lineItems = Array.from({ length: rng.int(1, 3) }, () => {
      const { sku, usd } = rng.pick(SKUS.all!);
      // Price lists are per currency: round the converted list price to whole units.
      const unit = Math.round(((usd / 100) * rate)) * 10 ** exponent;
      return { sku, unit_amount: unit, quantity: rng.int(1, 3) };
    });
    const amount = lineItems.reduce((sum, li) => sum + li.unit_amount * li.quantity, 0);
    const orderId = `ord-${rng.int(100_000, 999_999)}`;
    const data: Record<string, unknown> = { order_id: orderId, line_items: lineItems, amount, currency, amount_usd: toUsdCents(amount, currency, rate) };
    if (currency !== 'USD') data.fx_rate = rate;
    if (rng.chance(0.85)) {
      const pi = `pi_${rng.alnum(24)}`;
      data.payment_intent_id = pi;
      b.world.paymentIntents.push({ id: pi, amount, currency: currency.toLowerCase(), status: 'succeeded', created: Math.floor(time / 1000) - 5 });
    }
    b.emit({ specversion: '1.0', id: rng.uuid(), source: SOURCES.checkout, type: 'sale.recorded', time: iso(time), subject: `order/${orderId}`, data }, time);
  }

  for (let d = 0; d < 16; d++) {
    const time = at(0, span);
    const program = rng.pick(['spring-promo', 'referral', 'loyalty-gold']);
    b.emit(
      {
        specversion: '1.0',
        id: rng.uuid(),
        source: SOURCES.discounts,
        type: 'discount.issued',
        time: iso(time),
        data: { user_id: `user-${rng.hex(6)}`, program, code: `${program.split('-')[0]!.toUpperCase()}-${rng.alnum(6).toUpperCase()}` },
      },
      time,
    );
  }
}

/** Numbers each sequenced producer's events in time order, from a counter that started long ago. */
function number(b: DemoBuilder): void {
  const bySource = new Map<string, Item[]>();
  for (const item of b.items) {
    const source = item.event?.source;
    if (!source || !SEQUENCED.has(source)) continue;
    bySource.set(source, [...(bySource.get(source) ?? []), item]);
  }
  for (const items of bySource.values()) {
    let next = b.rng.int(1_000, 90_000);
    for (const item of items.sort((x, y) => x.timeMs - y.timeMs)) {
      // Place `sequence` after `time`, where producers put it.
      const { data, ...envelope } = item.event!;
      item.event = { ...envelope, sequence: String(next++), data };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The fault injectors

/**
 * One kind of fault. `produced` faults are what a producer emitted (they run before producers
 * number their events: a re-sent event with a new id still uses up a sequence number);
 * `delivered` faults are what the transport did to numbered events (lost, re-delivered, late).
 * `inject` changes the builder and returns, for each fault it made, what the pipeline should find.
 */
export interface FaultInjector {
  readonly name: string;
  readonly detectedBy: FunctionName;
  readonly needs?: readonly ExternalLookup[];
  readonly stage: 'produced' | 'delivered';
  inject(b: DemoBuilder): Array<{ detail: string; expect: ExpectedFinding[] }>;
}

const times = <T>(n: number, f: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => f(i));
const seq = (item: Item) => Number(item.event!.sequence);

/** The partner import is a broken producer: it does not number events, so its faults are only `invalid`. */
function partnerEvent(b: DemoBuilder, timeMs: number, type: string, data: Record<string, unknown>): DemoEvent {
  return { specversion: '1.0', id: b.rng.uuid(), source: SOURCES.partner, type, time: iso(timeMs), data };
}
const earlyTime = (b: DemoBuilder) => b.startMs + b.rng.int(5 * MINUTE, (b.endMs - b.startMs) / 2);
const invalidFinding = (event: DemoEvent | undefined, reasonIncludes: string): ExpectedFinding => ({
  match: { kind: 'invalid', action: 'dropped', ...(event ? { event_id: event.id, type: event.type, source: event.source } : {}) },
  reasonIncludes,
});

/** One event the validator must reject, for `reason`; it arrives when it was made unless told. */
function invalidEvent(name: string, make: (b: DemoBuilder) => { event: DemoEvent; detail: string; reason: string; arrivalMs?: number }): FaultInjector {
  return {
    name: `invalid: ${name}`,
    detectedBy: 'validator',
    stage: 'delivered',
    inject(b) {
      const { event, detail, reason, arrivalMs } = make(b);
      b.emit(event, arrivalMs ?? Date.parse(event.time), undefined, arrivalMs).touched = true;
      return [{ detail: `${detail} (${event.id})`, expect: [invalidFinding(event, reason)] }];
    },
  };
}

// The incorrect-event faults change what a producer recorded (or what Stripe and Twilio say) in
// events of the clean traffic: sales of the checkout and calls of the telephony producer.

type Picked = Item & { event: DemoEvent };
const about = (item: Picked) => ({ event_id: item.event.id, type: item.event.type, source: item.event.source });
/** Changes fields of an event's data where the producer wrote them; `undefined` removes one. */
const setData = (item: Picked, changes: Record<string, unknown>) => {
  const data: Record<string, unknown> = { ...item.event.data, ...changes };
  for (const [key, value] of Object.entries(changes)) if (value === undefined) delete data[key];
  item.event.data = data;
};
/** The checkers see every event whatever its time; this keeps the faults clear of the stream's edges. */
const CHECKED_LEAD_MS = 10 * MINUTE;

const isSale = (b: DemoBuilder, i: Picked) => i.event.type === 'sale.recorded' && i.event.source === SOURCES.checkout && b.early(i.timeMs, CHECKED_LEAD_MS);
function pickSale(b: DemoBuilder, what: string, where: (sale: SaleRecordedData) => boolean): { item: Picked; sale: SaleRecordedData } {
  const item = b.pick(what, (i) => isSale(b, i) && where(SaleRecordedData.parse(i.event.data)));
  return { item, sale: SaleRecordedData.parse(item.event.data) };
}
/** A call and what Twilio knows of it. */
function pickCall(b: DemoBuilder, what: string): { item: Picked; truth: CallTruth } {
  const item = b.pick(what, (i) => i.event.type === 'call.completed' && b.early(i.timeMs, CHECKED_LEAD_MS));
  const sid = CallCompletedData.parse(item.event.data).call_sid;
  const truth = b.world.calls.find((c) => c.sid === sid);
  if (!truth) throw new Error(`demo: Twilio knows no call ${sid}`);
  return { item, truth };
}
const lineItemsTotal = (sale: SaleRecordedData) => sale.line_items.reduce((sum, li) => sum + li.unit_amount * li.quantity, 0);
/** What the revenue-checker corrects a wrong conversion to: DESIGN §2 with the day's rate. */
const conversion = (b: DemoBuilder, item: Picked, sale: SaleRecordedData) => {
  const rate = b.rate(sale.currency, item.timeMs);
  return { rate, exponent: minorUnitExponent(sale.currency)!, amountUsd: toUsdCents(sale.amount, sale.currency, rate) };
};
const fxFinding = (item: Picked, action: 'corrected' | 'review', expected: number, actual: number, reasonIncludes?: string): ExpectedFinding => ({
  match: { kind: 'fx_mismatch', action, ...about(item), field: 'amount_usd', expected, actual },
  ...(reasonIncludes ? { reasonIncludes } : {}),
});

export const FAULT_INJECTORS: readonly FaultInjector[] = [
  {
    name: 'invalid: bad JSON',
    detectedBy: 'validator',
    stage: 'delivered',
    inject(b) {
      const event = partnerEvent(b, earlyTime(b), 'card.scanned', { card_id: `card-${b.rng.hex(8)}`, scanned_by: 'import' });
      const text = JSON.stringify(event);
      b.emitRaw(text.slice(0, Math.floor(text.length * 0.6)), Date.parse(event.time));
      return [{ detail: 'a payload cut off mid-object', expect: [invalidFinding(undefined, 'not valid JSON')] }];
    },
  },
  invalidEvent('unknown type', (b) => ({
    event: partnerEvent(b, earlyTime(b), 'lead.deleted', { lead_id: `lead-${b.rng.hex(8)}` }),
    detail: 'type "lead.deleted"',
    reason: 'type: must be one of',
  })),
  invalidEvent('missing field', (b) => ({
    event: partnerEvent(b, earlyTime(b), 'card.scanned', { scanned_by: 'import', contact: { name: 'Imported Contact' } }),
    detail: 'card.scanned without data.card_id',
    reason: 'data.card_id',
  })),
  invalidEvent('time in the future', (b) => ({
    event: partnerEvent(b, b.now + 60 * MINUTE, 'discount.issued', { user_id: `user-${b.rng.hex(6)}`, program: 'referral', code: 'REFERRAL-CLOCK' }),
    detail: 'time an hour ahead of the clock',
    reason: 'time: is more than',
    arrivalMs: earlyTime(b),
  })),
  invalidEvent('bad currency', (b) => ({
    event: partnerEvent(b, earlyTime(b), 'sale.recorded', {
      order_id: `ord-${b.rng.int(100_000, 999_999)}`,
      line_items: [{ sku: 'event-kit', unit_amount: 12_500, quantity: 1 }],
      amount: 12_500,
      currency: 'usd',
      amount_usd: 12_500,
    }),
    detail: 'currency "usd"',
    reason: 'data.currency',
  })),
  {
    name: 'duplicate: same id',
    detectedBy: 'deduplicator',
    stage: 'delivered',
    inject(b) {
      return (['sale.recorded', 'followup.sent', 'call.completed'] as const).map((type) => {
        const original = b.pick(`a ${type} to re-deliver`, (i) => i.event.type === type && b.early(i.timeMs, RESEND_DELAY_MS.max));
        const copy = b.emit({ ...original.event }, original.timeMs, undefined, original.arrivalMs + b.resendDelay());
        copy.touched = true;
        const id = original.event.id;
        return {
          detail: `${type} ${id} delivered twice`,
          expect: [{ match: { kind: 'duplicate', action: 'dropped', event_id: id, duplicate_of: id, basis: 'id' } }],
        };
      });
    },
  },
  {
    name: 'duplicate: same business key',
    detectedBy: 'deduplicator',
    stage: 'produced',
    inject(b) {
      const rescan = b.pick('a card to scan twice', (i) => i.event.type === 'card.scanned' && b.early(i.timeMs, RESEND_DELAY_MS.max));
      const sale = b.pick('a sale to record twice', (i) => i.event.type === 'sale.recorded' && b.early(i.timeMs, RESEND_DELAY_MS.max));
      return [rescan, sale].map((original) => {
        // The producer sends it again later under a new id (a re-scan, a retried webhook).
        const at = original.timeMs + b.resendDelay();
        const time = original.event.time.endsWith('Z') ? iso(at) : isoWithOffset(at, 120);
        const copy = b.resend(original, { time }, at);
        const key = original.event.type === 'card.scanned' ? 'card_id' : 'order_id';
        return {
          detail: `${original.event.type} ${key} ${String(original.event.data[key])} again as ${copy.event.id}`,
          expect: [{ match: { kind: 'duplicate', action: 'dropped', event_id: copy.event.id, duplicate_of: original.event.id, basis: 'business_key' } }],
        };
      });
    },
  },
  {
    name: 'duplicate: same content',
    detectedBy: 'deduplicator',
    stage: 'produced',
    inject(b) {
      return times(2, () => {
        // lead.tagged has no business key: only the content rule can catch a re-send.
        const original = b.pick('a tag event to re-send', (i) => i.event.type === 'lead.tagged' && b.early(i.timeMs, RESEND_DELAY_MS.max));
        const copy = b.resend(original, {}, original.timeMs, original.arrivalMs + b.resendDelay());
        return {
          detail: `lead.tagged ${original.event.id} re-sent as ${copy.event.id}`,
          expect: [{ match: { kind: 'duplicate', action: 'dropped', event_id: copy.event.id, duplicate_of: original.event.id, basis: 'content' } }],
        };
      });
    },
  },
  {
    name: 'missing: dropped sequence numbers',
    detectedBy: 'gap-detector',
    stage: 'delivered',
    inject(b) {
      // A scan lost in transit: the lead it led to still arrives, so only the sequence shows it.
      const single = b.pick('a scan to lose', (i) => i.event.type === 'card.scanned' && i.event.source === SOURCES.scannerIos && b.early(i.timeMs, 20 * MINUTE) && b.gapVisible(i), {
        wholeFlow: true,
      });
      const first = b.pick(
        'two scans in a row to lose',
        (i) => {
          const second = b.next(i);
          return (
            i.event.source === SOURCES.scannerAndroid &&
            b.early(i.timeMs, 20 * MINUTE) &&
            second?.flow !== undefined &&
            !second.touched &&
            b.previous(i) !== undefined &&
            !b.previous(i)!.touched &&
            b.gapVisible(second)
          );
        },
        { wholeFlow: true },
      );
      const second = b.next(first)!;
      for (const f of b.flow(second)) f.touched = true;
      b.remove(single);
      b.remove(first);
      b.remove(second);
      return [
        { detail: `${single.event.source} #${seq(single)} lost`, expect: [{ match: { kind: 'gap', source: single.event.source, from_sequence: seq(single), to_sequence: seq(single) } }] },
        {
          detail: `${first.event.source} #${seq(first)}-${seq(second)} lost`,
          expect: [{ match: { kind: 'gap', source: first.event.source, from_sequence: seq(first), to_sequence: seq(second) } }],
        },
      ];
    },
  },
  {
    name: 'missing: broken chains',
    detectedBy: 'gap-detector',
    stage: 'produced',
    inject(b) {
      const links = [
        { upstream: 'card.scanned', successor: 'lead.created' },
        { upstream: 'lead.created', successor: 'crm.synced' },
        { upstream: 'crm.synced', successor: 'followup.sent' },
      ] as const;
      return links.map(({ upstream, successor }) => {
        const deadline = CHAIN_DEADLINE_MS[successor];
        const start = b.pick(
          `a ${upstream} whose flow stops`,
          (i) => i.event.type === upstream && b.early(i.timeMs, deadline + 10 * MINUTE) && b.flow(i).some((f) => f.event?.type === 'followup.sent'),
          { wholeFlow: true },
        );
        // The producer never emitted the successor, nor anything after it in the flow.
        const after = b.flow(start).filter((f) => f.timeMs > start.timeMs && f.event?.type !== 'lead.tagged');
        const cut = after.findIndex((f) => f.event?.type === successor);
        for (const f of after.slice(cut)) b.remove(f);
        if (successor === 'lead.created') for (const f of b.flow(start)) if (f !== start) b.remove(f);
        return {
          detail: `${upstream} ${start.event.id} never followed by ${successor}`,
          expect: [{ match: { kind: 'chain_broken', event_id: start.event.id, type: upstream, expected_type: successor } }],
        };
      });
    },
  },
  {
    name: 'missing: late arrival',
    detectedBy: 'gap-detector',
    stage: 'delivered',
    inject(b) {
      const delay = 25 * MINUTE;
      const late = b.pick(
        'a call to deliver late',
        (i) => i.event.type === 'call.completed' && b.early(i.timeMs, delay + 5 * MINUTE) && b.gapVisible(i, i.timeMs + delay - GAP_GRACE_MS - 10 * MINUTE),
      );
      late.arrivalMs = late.timeMs + delay;
      const n = seq(late);
      return [
        {
          detail: `${late.event.source} #${n} (${late.event.id}) arrives ${delay / MINUTE} min late`,
          expect: [
            { match: { kind: 'gap', source: late.event.source, from_sequence: n, to_sequence: n } },
            { match: { kind: 'late', event_id: late.event.id, source: late.event.source } },
          ],
        },
      ];
    },
  },
  {
    name: 'incorrect: wrong total',
    detectedBy: 'revenue-checker',
    stage: 'produced',
    inject(b) {
      const { item, sale } = pickSale(b, 'a USD sale to total wrongly', (s) => s.currency === 'USD' && s.line_items.some((li) => li.quantity > 1));
      const total = lineItemsTotal(sale);
      const line = sale.line_items.find((li) => li.quantity > 1)!;
      // One unit of a line item left out of the total, and that total converted (USD at 1):
      // only the amount is wrong, and Stripe charged the line items' total.
      const amount = total - line.unit_amount;
      setData(item, { amount, amount_usd: amount });
      return [
        {
          detail: `sale.recorded ${item.event.id}: amount ${amount} USD cents, the line items total ${total} (one ${line.sku} left out)`,
          expect: [{ match: { kind: 'amount_mismatch', action: 'corrected', ...about(item), field: 'amount', expected: total, actual: amount } }],
        },
      ];
    },
  },
  {
    name: 'incorrect: inverted rate',
    detectedBy: 'revenue-checker',
    needs: ['rates'],
    stage: 'produced',
    inject(b) {
      const { item, sale } = pickSale(b, 'a EUR sale to convert with the inverted rate', (s) => s.currency === 'EUR');
      const { rate, exponent, amountUsd } = conversion(b, item, sale);
      // USD per EUR taken for EUR per USD: multiplied by the rate instead of divided.
      const recorded = Math.round(((sale.amount * 100) / 10 ** exponent) * rate);
      setData(item, { amount_usd: recorded, fx_rate: Number((1 / rate).toPrecision(6)) });
      return [
        {
          detail: `sale.recorded ${item.event.id}: ${sale.amount} EUR cents converted at 1/${rate} to ${recorded} US cents, not ${amountUsd}`,
          expect: [fxFinding(item, 'corrected', amountUsd, recorded)],
        },
      ];
    },
  },
  {
    name: 'incorrect: unconverted amount',
    detectedBy: 'revenue-checker',
    needs: ['rates'],
    stage: 'produced',
    inject(b) {
      // EUR where the stream has one left (the inverted rate takes one first), else JPY: either
      // way the unconverted amount is off by a factor the checker corrects (≈1.09, ≈1.5).
      const currency = b.available((i) => isSale(b, i) && i.event.data.currency === 'EUR') ? 'EUR' : 'JPY';
      const { item, sale } = pickSale(b, 'a EUR or JPY sale to leave unconverted', (s) => s.currency === currency);
      const { amountUsd } = conversion(b, item, sale);
      setData(item, { amount_usd: sale.amount, fx_rate: undefined });
      return [
        {
          detail: `sale.recorded ${item.event.id}: ${sale.amount} ${currency} minor units recorded as ${sale.amount} US cents, not ${amountUsd}`,
          expect: [fxFinding(item, 'corrected', amountUsd, sale.amount)],
        },
      ];
    },
  },
  {
    name: 'incorrect: wrong minor-unit exponent',
    detectedBy: 'revenue-checker',
    needs: ['rates'],
    stage: 'produced',
    inject(b) {
      // The checkout assumed two decimals for every currency: JPY has none (amount_usd 100 times
      // too small), KWD three (10 times too large). Far beyond the review factor: for a person.
      const currencies = ['JPY', 'KWD'].filter((c) => b.available((i) => isSale(b, i) && i.event.data.currency === c));
      if (currencies.length === 0) throw new Error('demo: no event left for a JPY or KWD sale to convert with two decimals');
      return currencies.map((currency) => {
        const { item, sale } = pickSale(b, `a ${currency} sale to convert with two decimals`, (s) => s.currency === currency);
        const { rate, amountUsd } = conversion(b, item, sale);
        const recorded = Math.round((sale.amount * 100) / 10 ** 2 / rate);
        setData(item, { amount_usd: recorded });
        return {
          detail: `sale.recorded ${item.event.id}: ${sale.amount} ${currency} minor units converted as if in hundredths, ${recorded} US cents, not ${amountUsd}`,
          expect: [fxFinding(item, 'review', amountUsd, recorded, 'beyond the review factor')],
        };
      });
    },
  },
  {
    name: 'incorrect: payment failed',
    detectedBy: 'revenue-checker',
    needs: ['stripe'],
    stage: 'produced',
    inject(b) {
      const { item, sale } = pickSale(b, 'a sale whose card payment failed', (s) => s.payment_intent_id !== undefined);
      const pi = b.world.paymentIntents.find((p) => p.id === sale.payment_intent_id);
      if (!pi) throw new Error(`demo: Stripe knows no PaymentIntent ${String(sale.payment_intent_id)}`);
      // The checkout recorded the sale, but the card was declined: the sale itself is clean.
      pi.status = 'requires_payment_method';
      return [
        {
          detail: `sale.recorded ${item.event.id}: Stripe reports ${pi.id} as ${pi.status}`,
          expect: [
            {
              match: { kind: 'payment_mismatch', action: 'review', ...about(item), field: 'status', expected: 'succeeded', actual: pi.status },
              reasonIncludes: `PaymentIntent ${pi.id}`,
            },
          ],
        },
      ];
    },
  },
  {
    name: 'incorrect: wrong call duration',
    detectedBy: 'call-duration-checker',
    needs: ['twilio'],
    stage: 'produced',
    inject(b) {
      const { item, truth } = pickCall(b, 'a call to record with its ringing');
      // The telephony producer counted from the first ring; Twilio counts from the answer.
      const recorded = truth.duration + b.rng.int(12, 45);
      setData(item, { duration_seconds: recorded, started_at: iso(item.timeMs - recorded * 1000) });
      return [
        {
          detail: `call.completed ${item.event.id}: ${recorded} s recorded, Twilio says ${truth.duration} s`,
          expect: [{ match: { kind: 'call_duration_mismatch', action: 'corrected', ...about(item), field: 'duration_seconds', expected: truth.duration, actual: recorded } }],
        },
      ];
    },
  },
  {
    name: 'incorrect: call of 0 s',
    detectedBy: 'call-duration-checker',
    stage: 'produced',
    inject(b) {
      const { item, truth } = pickCall(b, 'a call that dropped at once');
      // Answered and dropped at once: Twilio and the producer agree on 0 s, which still needs a
      // person (a 0 s call the replay sees without Twilio too).
      truth.duration = 0;
      truth.startTime = iso(item.timeMs);
      setData(item, { duration_seconds: 0, started_at: truth.startTime });
      return [
        {
          detail: `call.completed ${item.event.id}: a completed call of 0 s`,
          expect: [{ match: { kind: 'call_duration_mismatch', action: 'review', ...about(item), field: 'duration_seconds', actual: 0 }, reasonIncludes: 'completed call of 0 s' }],
        },
      ];
    },
  },
];

export interface DemoOptions {
  /** The clock the stream is built against (epoch ms); event times lie in the span before it. */
  readonly now: number;
  readonly seed?: number;
  readonly spanMinutes?: number;
  /** Replaces the injectors (tests). */
  readonly injectors?: readonly FaultInjector[];
}

/** Builds the demo stream: clean traffic, then the faults of every injector. */
export function buildDemo(options: DemoOptions): Demo {
  const seed = options.seed ?? DEMO_DEFAULTS.seed;
  const spanMs = (options.spanMinutes ?? DEMO_DEFAULTS.spanMinutes) * MINUTE;
  const endMs = Math.floor((options.now - MINUTE) / 1000) * 1000;
  const b = new DemoBuilder(seed, options.now, endMs - spanMs, endMs);
  produce(b);
  const faults: InjectedFault[] = [];
  const run = (stage: FaultInjector['stage']) => {
    for (const injector of options.injectors ?? FAULT_INJECTORS) {
      if (injector.stage !== stage) continue;
      for (const made of injector.inject(b)) {
        faults.push({ injector: injector.name, detectedBy: injector.detectedBy, ...(injector.needs ? { needs: injector.needs } : {}), ...made });
      }
    }
  };
  run('produced');
  number(b);
  run('delivered');
  const order = (options.injectors ?? FAULT_INJECTORS).map((i) => i.name);
  faults.sort((x, y) => order.indexOf(x.injector) - order.indexOf(y.injector));
  const messages = b.items
    .slice()
    .sort((x, y) => x.arrivalMs - y.arrivalMs || x.timeMs - y.timeMs)
    .map((i) => ({ data: i.raw ?? JSON.stringify(i.event), arrivalMs: i.arrivalMs }));
  const days = Object.fromEntries(Object.entries(b.world.rates.days).sort(([x], [y]) => x.localeCompare(y)));
  return { seed, now: options.now, startMs: b.startMs, endMs, messages, faults, world: { ...b.world, rates: { base: 'USD', days } } };
}

/** The demo as files for `event-recovery replay`: the events, the rates, the injected faults. */
export function writeDemoFiles(demo: Demo, ndjsonPath: string): { events: string; rates: string; faults: string } {
  const base = ndjsonPath.replace(/\.ndjson$/, '');
  const paths = { events: ndjsonPath, rates: `${base}.rates.json`, faults: `${base}.faults.json` };
  writeFileSync(paths.events, demo.messages.map((m) => `${m.data}\n`).join(''));
  writeFileSync(paths.rates, `${JSON.stringify(demo.world.rates, null, 2)}\n`);
  writeFileSync(paths.faults, `${JSON.stringify({ seed: demo.seed, now: new Date(demo.now).toISOString(), faults: demo.faults }, null, 2)}\n`);
  return paths;
}
