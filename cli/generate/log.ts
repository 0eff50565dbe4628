import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { toUsdCents } from '../../shared/events/currency';

/** A small deterministic PRNG (mulberry32): the same seed writes the same log. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const BENCH_RATES = { EUR: 0.92, JPY: 151.3, KWD: 0.307, GBP: 0.79 } as const;

export const BENCH_START_MS = Date.parse('2026-03-01T00:00:00Z');

/** The rates file `generateLog` would return for these arguments, known before the log is written (for a streamed log). */
export function benchRates(count: number, startMs = BENCH_START_MS, spacingMs = 20): GeneratedLog['rates'] {
  const days: Record<string, Record<string, number>> = {};
  const last = startMs + Math.floor(count * spacingMs);
  for (let ms = startMs - (startMs % 86_400_000); ms <= last; ms += 86_400_000) days[new Date(ms).toISOString().slice(0, 10)] = { ...BENCH_RATES };
  return { base: 'USD', days };
}

export interface GeneratedLog {
  readonly events: number;
  readonly bytes: number;
  readonly rates: { base: 'USD'; days: Record<string, Record<string, number>> };
}

/**
 * Writes (to a file, or to a stream left open, e.g. standard output) a realistic event log of `count` lines: lead flows (scan → lead → CRM → follow-up),
 * tags, sales in four currencies, calls, discounts, from several sequenced sources, with
 * about 1 % duplicates, 0.3 % invalid lines and 0.1 % dropped events (sequence gaps).
 */
export async function generateLog(
  target: string | Writable,
  count: number,
  seed = 42,
  startMs = BENCH_START_MS,
  spacingMs = 20,
): Promise<GeneratedLog> {
  const random = prng(seed);
  const out = typeof target === 'string' ? createWriteStream(target, { highWaterMark: 1 << 20 }) : target;
  const sequences = new Map<string, number>();
  const days: Record<string, Record<string, number>> = {};
  let written = 0;
  let bytes = 0;
  let last = '';
  let buffer: string[] = [];
  let pending = 0;
  let flow = 0;

  const flush = async () => {
    const text = buffer.join('');
    buffer = [];
    pending = 0;
    bytes += Buffer.byteLength(text);
    if (!out.write(text)) await once(out, 'drain');
  };
  const emit = async (line: string) => {
    buffer.push(line, '\n');
    written++;
    last = line;
    if (++pending >= 4096) await flush();
  };

  const sources = ['//scanner/ios', '//scanner/android', '//crm/hubspot', '//followups/engine', '//store/pos', '//calls/twilio'];
  const currencies = ['USD', 'EUR', 'JPY', 'KWD', 'GBP'] as const;

  while (written < count) {
    const ms = startMs + Math.floor(written * spacingMs);
    const time = new Date(ms).toISOString();
    const day = time.slice(0, 10);
    days[day] ??= { ...BENCH_RATES };
    const roll = random();
    if (roll < 0.01 && last) {
      await emit(last); // a duplicate
      continue;
    }
    if (roll < 0.013) {
      await emit(roll < 0.0115 ? '{"specversion":"1.0","id":' : `{"specversion":"1.0","id":"bad-${written}","type":"card.scanned"}`);
      continue;
    }
    const pick = random();
    let source: string;
    let type: string;
    let data: string;
    const n = flow++;
    if (pick < 0.45) {
      const stage = n % 4;
      source = sources[stage === 0 ? (n & 4 ? 0 : 1) : stage + 1]!;
      const lead = `lead-${n >> 2}`;
      const card = `card-${n >> 2}`;
      if (stage === 0) {
        type = 'card.scanned';
        data = `{"card_id":"${card}","scanned_by":"rep-${n % 97}","contact":{"name":"Contact ${n}","email":"c${n}@example.com"}}`;
      } else if (stage === 1) {
        type = 'lead.created';
        data = `{"lead_id":"${lead}","card_id":"${card}","owner_id":"owner-${n % 13}"}`;
      } else if (stage === 2) {
        type = 'crm.synced';
        data = `{"lead_id":"${lead}","crm":"hubspot","crm_record_id":"hs-${n}"}`;
      } else {
        type = 'followup.sent';
        data = `{"lead_id":"${lead}","channel":"email","template":"welcome","message_id":"m-${n}"}`;
      }
    } else if (pick < 0.55) {
      source = '//crm/hubspot';
      type = 'lead.tagged';
      data = `{"lead_id":"lead-${n}","tags":["t${n % 7}","segment-${n % 3}"]}`;
    } else if (pick < 0.8) {
      source = '//store/pos';
      type = 'sale.recorded';
      const currency = currencies[n % currencies.length]!;
      const items = 1 + (n % 3);
      let amount = 0;
      const lineItems: string[] = [];
      for (let i = 0; i < items; i++) {
        const unit = 100 + Math.floor(random() * 20_000);
        const qty = 1 + (i % 2);
        amount += unit * qty;
        lineItems.push(`{"sku":"sku-${(n + i) % 500}","unit_amount":${unit},"quantity":${qty}}`);
      }
      const rate = currency === 'USD' ? 1 : BENCH_RATES[currency];
      const usd = toUsdCents(amount, currency, rate);
      data = `{"order_id":"order-${n}","line_items":[${lineItems.join(',')}],"amount":${amount},"currency":"${currency}","amount_usd":${usd}}`;
    } else if (pick < 0.95) {
      source = '//calls/twilio';
      type = 'call.completed';
      const sid = `CA${(n * 2654435761 >>> 0).toString(16).padStart(8, '0')}${'0'.repeat(24)}`;
      data = `{"call_sid":"${sid}","from":"+14155550100","to":"+1415555${String(n % 10000).padStart(4, '0')}","duration_seconds":${n % 900},"started_at":"${time}"}`;
    } else {
      source = '//store/pos';
      type = 'discount.issued';
      data = `{"user_id":"user-${n}","program":"spring","code":"SPRING-${n}"}`;
    }
    const seq = (sequences.get(source) ?? 0) + 1;
    sequences.set(source, seq);
    if (random() < 0.001) continue; // dropped on the way: a sequence gap
    await emit(`{"specversion":"1.0","id":"ev-${written}-${n}","source":"${source}","type":"${type}","time":"${time}","sequence":"${seq}","data":${data}}`);
  }
  if (pending > 0) await flush();
  if (typeof target === 'string') {
    out.end();
    await once(out, 'close');
  }
  return { events: written, bytes, rates: { base: 'USD', days } };
}
