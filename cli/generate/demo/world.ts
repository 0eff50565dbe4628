import { DEFAULT_GAP_RULES } from '../../../functions/gap-detector/core';
import { minorUnitExponent, toStripeAmount, toUsdCents } from '../../../shared/events/currency';
import { utcDate } from '../../../shared/events/time';
import { Rng } from './rng';
import type { DemoEvent, DemoWorld } from './types';

// ---------------------------------------------------------------------------------------------
// The producers

export const MINUTE = 60_000;

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
  /** Only in a load stream (`DemoOptions.load`): the busiest producer, a CRM enrichment job re-tagging known leads. */
  enrichment: '//crm/enrichment',
} as const;
const SEQUENCED: ReadonlySet<string> = new Set([
  SOURCES.scannerIos,
  SOURCES.scannerAndroid,
  SOURCES.leads,
  SOURCES.crmSync,
  SOURCES.followups,
  SOURCES.calls,
  SOURCES.checkout,
  SOURCES.enrichment,
]);

/** How many of each kind of clean traffic `produce` makes. */
export interface ProduceMix {
  readonly flows: number;
  readonly calls: number;
  readonly sales: number;
  readonly discounts: number;
  /** Tag events of the one hot producer (SOURCES.enrichment) on leads of the flows. */
  readonly hot: number;
}

/** The demo's own mix: about 300 events over two hours, no hot producer. */
export const DEMO_MIX: ProduceMix = { flows: 48, calls: 30, sales: 40, discounts: 16, hot: 0 };

/** The gap grace period of the rules (DESIGN §3): the stack publishes the demo so that no reordering reaches it. */
export const GAP_GRACE_MS = DEFAULT_GAP_RULES.graceMs;
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

/** `+14155550123` as `(415) 555-0123`. */
const nationalUs = (e164: string) => `(${e164.slice(2, 5)}) ${e164.slice(5, 8)}-${e164.slice(8)}`;

export interface Item {
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

export const iso = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
/** The Android scanner writes local time with an offset: the same instant, another spelling. */
export const isoWithOffset = (ms: number, offsetMinutes: number) => {
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
    this.world = { rates: { base: 'USD', days: {} }, paymentIntents: [], calls: [], crmRecords: [] };
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

  private readonly orderIds = new Set<number>();

  /**
   * An order id no other sale of the stream has: two sales under one id are a business-key
   * duplicate, which a load stream's many sales would otherwise make by chance. A drawn id
   * already used steps to the next free one, no second draw, so the rest of the stream (and any
   * stream without a collision) is as it was.
   */
  orderId(): string {
    let n = this.rng.int(100_000, 999_999);
    while (this.orderIds.has(n)) n = n === 999_999 ? 100_000 : n + 1;
    this.orderIds.add(n);
    return `ord-${n}`;
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
export function produce(b: DemoBuilder, mix: ProduceMix = DEMO_MIX): void {
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

  const leads: Array<{ leadId: string; at: number }> = [];
  for (let f = 0; f < mix.flows; f++) {
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
    if (created <= b.endMs) leads.push({ leadId, at: created });
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
    const recordId = crm === 'hubspot' ? String(rng.int(10_000_000, 99_999_999)) : `00Q${rng.alnum(15)}`;
    steps.push({
      at: synced,
      event: {
        source: SOURCES.crmSync,
        type: 'crm.synced',
        subject: `lead/${leadId}`,
        data: { lead_id: leadId, crm, crm_record_id: recordId, email: contact.email, phone: contact.phone },
      },
    });
    // As each CRM keeps them: Salesforce formats a US number nationally, HubSpot keeps the email
    // as typed on the card. The same values, for crm-checker's comparison (case, E.164). Only a
    // sync that happened within the stream wrote a record.
    if (synced <= b.endMs) {
      const email = crm === 'hubspot' ? contact.name.replace(' ', '.') + contact.email.slice(contact.email.indexOf('@')) : contact.email;
      b.world.crmRecords.push({ crm, id: recordId, email, phone: crm === 'salesforce' ? nationalUs(contact.phone) : contact.phone });
    }
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

  for (let c = 0; c < mix.calls; c++) {
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

  for (let s = 0; s < mix.sales; s++) {
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
    const orderId = b.orderId();
    const data: Record<string, unknown> = { order_id: orderId, line_items: lineItems, amount, currency, amount_usd: toUsdCents(amount, currency, rate) };
    if (currency !== 'USD') data.fx_rate = rate;
    if (rng.chance(0.85)) {
      const pi = `pi_${rng.alnum(24)}`;
      data.payment_intent_id = pi;
      b.world.paymentIntents.push({ id: pi, amount: toStripeAmount(amount, currency), currency: currency.toLowerCase(), status: 'succeeded', created: Math.floor(time / 1000) - 5 });
    }
    b.emit({ specversion: '1.0', id: rng.uuid(), source: SOURCES.checkout, type: 'sale.recorded', time: iso(time), subject: `order/${orderId}`, data }, time);
  }

  for (let d = 0; d < mix.discounts; d++) {
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

  // The hot producer: an enrichment job re-tagging leads some time after they were created; each
  // run's tag differs, so two re-tags of one lead in one second are not the same content.
  for (let h = 0; h < mix.hot && leads.length > 0; h++) {
    const lead = rng.pick(leads);
    const time = Math.min(b.endMs, lead.at + rng.int(10_000, 30 * MINUTE));
    b.emit(
      { specversion: '1.0', id: rng.uuid(), source: SOURCES.enrichment, type: 'lead.tagged', time: iso(time), subject: `lead/${lead.leadId}`, data: { lead_id: lead.leadId, tags: [rng.pick(TAGS), `enriched-${h}`] } },
      time,
    );
  }
}

/** Numbers each sequenced producer's events in time order, from a counter that started long ago. */
export function number(b: DemoBuilder): void {
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

