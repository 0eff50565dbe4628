import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { prng } from '../../cli/generate/log';

/**
 * Event logs with a realistic volume shape, to hold the volume detector to DESIGN §3: busy
 * weekdays, quiet nights and weekends, day-to-day and hour-to-hour variation beyond counting
 * noise, slow growth, and a few incidents whose (series, hour) footprint is known.
 */

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Relative traffic by UTC hour of day on a weekday: night, morning ramp, business hours, evening. */
const WEEKDAY_PROFILE = [
  0.03, 0.02, 0.02, 0.02, 0.03, 0.05, 0.12, 0.3, 0.6, 0.85, 1, 1, 0.95, 1, 1, 0.95, 0.85, 0.7, 0.5, 0.35, 0.25, 0.15, 0.08, 0.05,
];
const WEEKEND_FACTOR = 0.3;
/** Unit prices of the store's sales, in US cents: mostly small, a few large. */
const SALE_PRICES = [900, 1500, 1900, 2900, 4900, 7900, 12_500, 24_900, 900, 1500, 2900, 4900, 249_000];

/** Busy-hour rates (events per hour at profile 1) of the independent producers. */
const PEAK = { scans: 160, sales: 60, calls: 40, tags: 30, discounts: 8 } as const;
/** Chain conversion: a scan becomes a lead, a lead is synced to the CRM, a synced lead gets a follow-up. */
const CONVERSION = { lead: 0.95, crm: 0.9, followup: 0.85 } as const;

export type IncidentKind = 'outage' | 'crm_outage' | 'storm';

export interface Incident {
  readonly kind: IncidentKind;
  /** The event type whose producer misbehaves. */
  readonly type: string;
  readonly startMs: number;
  readonly hours: number;
  /** Multiplier on that type's events during the incident. */
  readonly factor: number;
  /** Series a finding may rightly name because of this incident (the type and what follows it in the chain). */
  readonly series: readonly string[];
}

export interface VolumeLog {
  readonly events: number;
  readonly startMs: number;
  readonly endMs: number;
  readonly incidents: readonly Incident[];
}

export interface VolumeLogOptions {
  readonly seed: number;
  readonly days: number;
  /** Midnight UTC of the first day; default a Monday. */
  readonly startMs?: number;
  /** Relative growth of traffic per day (0.005 = 0.5 %). */
  readonly growthPerDay?: number;
  /** Whether to inject the incidents (false: normal traffic only). */
  readonly incidents?: boolean;
}

const DOWNSTREAM: Record<string, readonly string[]> = {
  'card.scanned': ['card.scanned', 'lead.created', 'crm.synced', 'followup.sent', 'scan_to_crm'],
  'crm.synced': ['crm.synced', 'followup.sent', 'scan_to_crm'],
  'sale.recorded': ['sale.recorded', 'revenue_usd'],
  'call.completed': ['call.completed'],
  'lead.tagged': ['lead.tagged'],
};

function poisson(random: () => number, lambda: number): number {
  if (lambda <= 0) return 0;
  if (lambda > 50) {
    // Normal approximation for large means (Box-Muller).
    const u = Math.max(random(), 1e-12);
    const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
    return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * z));
  }
  const limit = Math.exp(-lambda);
  let k = 0;
  let p = random();
  while (p > limit) {
    k++;
    p *= random();
  }
  return k;
}

function gaussian(random: () => number): number {
  const u = Math.max(random(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

const isWeekendDay = (ms: number) => {
  const d = new Date(ms).getUTCDay();
  return d === 0 || d === 6;
};

/** Places the three incidents of the issue in busy weekday hours of weeks two and three. */
function planIncidents(random: () => number, startMs: number, days: number): Incident[] {
  const busyHour = (minDay: number): number => {
    for (;;) {
      const day = minDay + Math.floor(random() * Math.max(1, days - minDay - 1));
      const dayMs = startMs + day * DAY;
      if (isWeekendDay(dayMs)) continue;
      return dayMs + (9 + Math.floor(random() * 6)) * HOUR;
    }
  };
  const outageType = ['card.scanned', 'sale.recorded', 'call.completed'][Math.floor(random() * 3)]!;
  const stormType = ['sale.recorded', 'lead.tagged', 'call.completed'][Math.floor(random() * 3)]!;
  const incidents: Incident[] = [
    { kind: 'outage', type: outageType, startMs: busyHour(7), hours: 2 + Math.floor(random() * 2), factor: 0.1, series: DOWNSTREAM[outageType]! },
    { kind: 'crm_outage', type: 'crm.synced', startMs: busyHour(7), hours: 3, factor: 0.2, series: DOWNSTREAM['crm.synced']! },
    { kind: 'storm', type: stormType, startMs: busyHour(7), hours: 2, factor: 4, series: DOWNSTREAM[stormType]! },
  ];
  return incidents;
}

function factorAt(incidents: readonly Incident[], type: string, ms: number): number {
  let f = 1;
  for (const i of incidents) if (i.type === type && ms >= i.startMs && ms < i.startMs + i.hours * HOUR) f *= i.factor;
  return f;
}

/** Writes the log, events in time order, one CloudEvent a line. */
export async function generateVolumeLog(path: string, options: VolumeLogOptions): Promise<VolumeLog> {
  const random = prng(options.seed);
  const startMs = options.startMs ?? Date.parse('2026-03-02T00:00:00Z');
  const endMs = startMs + options.days * DAY;
  const growth = options.growthPerDay ?? 0.005;
  const incidents = options.incidents === false ? [] : planIncidents(random, startMs, options.days);
  const out = createWriteStream(path, { highWaterMark: 1 << 20 });
  let written = 0;
  let n = 0;
  const sequences = new Map<string, number>();
  const line = (ms: number, source: string, type: string, data: string) => {
    const seq = (sequences.get(source) ?? 0) + 1;
    sequences.set(source, seq);
    const id = `v${options.seed}-${n++}`;
    return { ms, text: `{"specversion":"1.0","id":"${id}","source":"${source}","type":"${type}","time":"${new Date(ms).toISOString()}","sequence":"${seq}","data":${data}}` };
  };
  let pending: { ms: number; text: string }[] = [];
  const emitUpTo = async (ms: number) => {
    pending.sort((a, b) => a.ms - b.ms);
    const ready = pending.filter((e) => e.ms < ms);
    pending = pending.filter((e) => e.ms >= ms);
    if (ready.length === 0) return;
    written += ready.length;
    if (!out.write(`${ready.map((e) => e.text).join('\n')}\n`)) await once(out, 'drain');
  };

  for (let day = 0; day < options.days; day++) {
    const dayMs = startMs + day * DAY;
    // Some days are busier than others, for every producer alike.
    const dayLevel = Math.exp(0.06 * gaussian(random)) * (1 + growth) ** day * (isWeekendDay(dayMs) ? WEEKEND_FACTOR : 1);
    for (let h = 0; h < 24; h++) {
      const hourMs = dayMs + h * HOUR;
      const level = dayLevel * WEEKDAY_PROFILE[h]! * Math.exp(0.05 * gaussian(random));
      const at = () => hourMs + Math.floor(random() * HOUR);
      const scans = poisson(random, PEAK.scans * level * factorAt(incidents, 'card.scanned', hourMs));
      for (let i = 0; i < scans; i++) {
        const t = at();
        const k = n;
        pending.push(line(t, i % 2 ? '//scanner/ios' : '//scanner/android', 'card.scanned', `{"card_id":"card-${k}","scanned_by":"rep-${k % 50}","contact":{"name":"Contact ${k}"}}`));
        if (random() >= CONVERSION.lead) continue;
        const tLead = t + 30_000 + Math.floor(random() * 240_000);
        pending.push(line(tLead, '//crm/leads', 'lead.created', `{"lead_id":"lead-${k}","card_id":"card-${k}","owner_id":"owner-${k % 9}"}`));
        const tCrm = tLead + 60_000 + Math.floor(random() * 480_000);
        if (random() >= CONVERSION.crm * factorAt(incidents, 'crm.synced', tCrm)) continue;
        pending.push(line(tCrm, '//crm/hubspot', 'crm.synced', `{"lead_id":"lead-${k}","crm":"hubspot","crm_record_id":"hs-${k}"}`));
        if (random() >= CONVERSION.followup) continue;
        const tFollow = tCrm + 120_000 + Math.floor(random() * 1_500_000);
        pending.push(line(tFollow, '//followups/engine', 'followup.sent', `{"lead_id":"lead-${k}","channel":"email","template":"welcome","message_id":"m-${k}"}`));
      }
      const independent = (type: string, peak: number, make: (t: number, k: number) => { source: string; data: string }) => {
        const count = poisson(random, peak * level * factorAt(incidents, type, hourMs));
        for (let i = 0; i < count; i++) {
          const t = at();
          const { source, data } = make(t, n);
          pending.push(line(t, source, type, data));
        }
      };
      independent('sale.recorded', PEAK.sales, (_t, k) => {
        // Baskets of 1-4 items from $9 to $249 (and now and then a $2,490 order), from the order
        // number alone: the log's random sequence, and so every other series, stays as it was.
        const unit = SALE_PRICES[(k * 7919) % SALE_PRICES.length]!;
        const quantity = 1 + ((k * 104_729) % 4);
        const amount = unit * quantity;
        return {
          source: '//store/pos',
          data: `{"order_id":"order-${k}","line_items":[{"sku":"sku-${k % 40}","unit_amount":${unit},"quantity":${quantity}}],"amount":${amount},"currency":"USD","amount_usd":${amount}}`,
        };
      });
      independent('call.completed', PEAK.calls, (t, k) => ({
        source: '//calls/twilio',
        data: `{"call_sid":"CA${k.toString(16).padStart(32, '0')}","from":"+14155550100","to":"+14155550101","duration_seconds":${k % 600},"started_at":"${new Date(t - 600_000).toISOString()}"}`,
      }));
      independent('lead.tagged', PEAK.tags, (_t, k) => ({ source: '//crm/tags', data: `{"lead_id":"lead-t${k}","tags":["t${k % 5}"]}` }));
      independent('discount.issued', PEAK.discounts, (_t, k) => ({ source: '//store/promos', data: `{"user_id":"user-${k}","program":"spring","code":"SPRING-${k}"}` }));
      await emitUpTo(hourMs);
    }
  }
  await emitUpTo(Number.POSITIVE_INFINITY);
  out.end();
  await once(out, 'close');
  return { events: written, startMs, endMs, incidents };
}
