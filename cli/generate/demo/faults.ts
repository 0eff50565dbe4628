import { DEFAULT_GAP_RULES } from '../../../functions/gap-detector/core';
import { CallCompletedData, CrmSyncedData, SaleRecordedData } from '../../../shared/events/catalog';
import { minorUnitExponent, toUsdCents } from '../../../shared/events/currency';
import { maskPersonal } from '../../../shared/mask';
import { HOUR_MS, hourText } from '../../../shared/volume/detector';
import type { FunctionName } from '../../../shared/topology';
import type { CallTruth, CrmRecordTruth, DemoEvent, ExpectedFinding, ExternalLookup } from './types';
import { Rng } from './rng';
import { DemoBuilder, GAP_GRACE_MS, iso, isoWithOffset, MINUTE, RESEND_DELAY_MS, SOURCES, type Item } from './world';

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

/** One event that fails validation, for `reason`; it arrives when it was made unless told. */
function invalidEvent(name: string, make: (b: DemoBuilder) => { event: DemoEvent; detail: string; reason: string; arrivalMs?: number }): FaultInjector {
  return {
    name: `invalid: ${name}`,
    detectedBy: 'deduplicator',
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
    detectedBy: 'deduplicator',
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
      order_id: b.orderId(),
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
        // lead.tagged has no business key: only the content rule can catch a re-send. The tagger's,
        // which numbers nothing: a numbered producer's copy would carry a number of its own from
        // when it was re-sent, and the stream numbers events in event-time order, so the copy's
        // number would arrive late, a gap and a late arrival this fault does not mean (the load
        // stream's hot producer tags too).
        const original = b.pick('a tag event to re-send', (i) => i.event.type === 'lead.tagged' && i.event.source === SOURCES.tagging && b.early(i.timeMs, RESEND_DELAY_MS.max));
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
        const deadline = DEFAULT_GAP_RULES.chainDeadlinesMs[upstream];
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
  ...crmFaults(),
  ...volumeFaults(),
];


// The CRM faults change what a CRM holds, not the stream: the sync event says one thing, the
// record another (DESIGN §3, crm-checker). They run last and pick without the random generator,
// so the stream's other faults are those of a demo without them.

const mask = (value: string | null) => (value === null ? null : String(maskPersonal(value)));

/** The earliest untouched, accepted crm.synced to `crm`, and the record the CRM keeps for it. */
function pickSync(b: DemoBuilder, crm: 'hubspot' | 'salesforce', what: string): { item: Picked; sync: CrmSyncedData; record: CrmRecordTruth } {
  const item = b.items
    .filter((i): i is Picked => i.event !== undefined && !i.touched && i.event.type === 'crm.synced' && i.event.data.crm === crm && b.early(i.timeMs, CHECKED_LEAD_MS))
    .sort((x, y) => x.timeMs - y.timeMs)[0];
  if (!item) throw new Error(`demo: no untouched ${crm} sync left for ${what}`);
  item.touched = true;
  const sync = CrmSyncedData.parse(item.event.data);
  const record = b.world.crmRecords.find((r) => r.crm === crm && r.id === sync.crm_record_id);
  if (!record) throw new Error(`demo: ${crm} keeps no record ${sync.crm_record_id}`);
  return { item, sync, record };
}

function crmFaults(): FaultInjector[] {
  const crmFinding = (item: Picked, field: string, expected: unknown, actual: unknown, reasonIncludes: string): ExpectedFinding => ({
    match: { kind: 'crm_mismatch', action: 'review', ...about(item), field, expected, ...(actual === undefined ? {} : { actual }) },
    reasonIncludes,
  });
  return [
    {
      name: 'incorrect: CRM email and phone swapped',
      detectedBy: 'crm-checker',
      needs: ['crm'],
      stage: 'delivered',
      inject(b) {
        const { item, record } = pickSync(b, 'hubspot', 'a record whose fields the sync swapped');
        [record.email, record.phone] = [record.phone, record.email];
        return [
          {
            detail: `crm.synced ${item.event.id}: HubSpot contact ${record.id} holds the phone as its email and the email as its phone`,
            expect: [
              crmFinding(
                item,
                'email_phone_swapped',
                { email: mask(item.event.data.email as string), phone: mask(item.event.data.phone as string) },
                { email: mask(record.email), phone: mask(record.phone) },
                "holds the event's phone as its email",
              ),
            ],
          },
        ];
      },
    },
    {
      name: 'incorrect: CRM record missing',
      detectedBy: 'crm-checker',
      needs: ['crm'],
      stage: 'delivered',
      inject(b) {
        const { item, sync } = pickSync(b, 'salesforce', 'a sync that never reached the CRM');
        b.world.crmRecords.splice(b.world.crmRecords.findIndex((r) => r.crm === 'salesforce' && r.id === sync.crm_record_id), 1);
        return [
          {
            detail: `crm.synced ${item.event.id}: Salesforce has no Lead ${sync.crm_record_id}`,
            expect: [crmFinding(item, 'record', sync.crm_record_id, undefined, 'does not exist')],
          },
        ];
      },
    },
    {
      name: 'incorrect: CRM wrong phone',
      detectedBy: 'crm-checker',
      needs: ['crm'],
      stage: 'delivered',
      inject(b) {
        const { item, sync, record } = pickSync(b, 'salesforce', 'a record with another phone');
        // A digit typed wrong in the CRM: the last two of the number turned around.
        const digits = (sync.phone ?? '').slice(-2);
        record.phone = `${(record.phone ?? '').slice(0, -2)}${digits[1] === digits[0] ? String((Number(digits[0]) + 1) % 10) + digits[1] : `${digits[1]}${digits[0]}`}`;
        return [
          {
            detail: `crm.synced ${item.event.id}: Salesforce Lead ${record.id} holds another phone`,
            expect: [crmFinding(item, 'phone', mask(sync.phone ?? null), mask(record.phone), 'holds another phone')],
          },
        ];
      },
    },
  ];
}

// The volume fault shows only against the archive's past weeks (Demo.volumeHistory): the local
// stack seeds its hourly series with them; replay has no past and judges no hour. It runs last
// and draws from a generator of its own, so the stream's other faults are those of a demo without it.

/**
 * The hour volume-monitor's first tick after the stream judges for sure: the one holding the
 * stream's end less 70 minutes ends at least 10 minutes (its grace period and allowed lateness,
 * functions/volume-monitor) before the clock, and at least 50 of its minutes are in the stream.
 */
export function stormHour(b: DemoBuilder): number {
  return Math.floor((b.endMs - 70 * MINUTE) / HOUR_MS) * HOUR_MS;
}

function volumeFaults(): FaultInjector[] {
  return [
    {
      name: 'volume: discount storm',
      detectedBy: 'volume-monitor',
      needs: ['volume-history'],
      stage: 'delivered',
      inject(b) {
        const rng = new Rng(b.seed ^ 0x5f0e);
        const hour = stormHour(b);
        const from = Math.max(hour, b.startMs + 5 * MINUTE);
        const to = Math.min(hour + HOUR_MS, b.endMs) - MINUTE;
        const usual = b.items.filter((i) => i.event?.type === 'discount.issued' && i.timeMs >= hour && i.timeMs < hour + HOUR_MS).length;
        // Four times the hour's own discounts, and never fewer than 40: far above any band its past allows.
        const n = Math.max(40, 4 * usual);
        for (let k = 0; k < n; k++) {
          const time = from + Math.floor(((k + 0.5) / n) * (to - from));
          b.emit(
            {
              specversion: '1.0',
              id: rng.uuid(),
              source: SOURCES.discounts,
              type: 'discount.issued',
              time: iso(time),
              data: { user_id: `user-${rng.hex(6)}`, program: 'winback', code: `WINBACK-${rng.alnum(6).toUpperCase()}` },
            },
            time,
            undefined,
            time + 500,
          ).touched = true;
        }
        return [
          {
            detail: `a loyalty job looping: ${n} more discount.issued in the hour from ${hourText(hour / HOUR_MS)} (about ${usual} usual)`,
            expect: [{ match: { kind: 'volume_anomaly', action: 'reported', series: 'discount.issued', hour: hourText(hour / HOUR_MS) }, reasonIncludes: 'above the expected range' }],
          },
        ];
      },
    },
  ];
}
