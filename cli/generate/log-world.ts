import type { DemoWorld } from './demo/types';

/** Loosely read fields of a catalog event, as far as the world needs them. */
interface LooseEvent {
  type?: unknown;
  time?: unknown;
  data?: {
    call_sid?: unknown;
    from?: unknown;
    to?: unknown;
    duration_seconds?: unknown;
    started_at?: unknown;
    payment_intent_id?: unknown;
    amount?: unknown;
    currency?: unknown;
    crm?: unknown;
    crm_record_id?: unknown;
    email?: unknown;
    phone?: unknown;
  };
}

/**
 * The stand-in world a log implies: Twilio knows each call the log reports, with the duration it
 * reports, and Stripe each payment intent a sale names, succeeded for the amount and currency of
 * the sale, and the CRM each record a `crm.synced` names, with its email and phone (the log is
 * taken as the truth: `npm run dev -- --log` and `npm run load` measure delivery, not the
 * checkers); the rates are the log's. Lines that are not events are skipped.
 */
export function worldOfLog(lines: Iterable<string>, rates: DemoWorld['rates']): DemoWorld {
  const calls = new Map<string, DemoWorld['calls'][number]>();
  const intents = new Map<string, DemoWorld['paymentIntents'][number]>();
  const records = new Map<string, DemoWorld['crmRecords'][number]>();
  for (const line of lines) {
    let e: LooseEvent;
    try {
      e = JSON.parse(line) as LooseEvent;
    } catch {
      continue;
    }
    const d = e?.data;
    if (!d || typeof d !== 'object') continue;
    if (e.type === 'call.completed' && typeof d.call_sid === 'string' && typeof d.duration_seconds === 'number' && !calls.has(d.call_sid)) {
      calls.set(d.call_sid, {
        sid: d.call_sid,
        from: String(d.from ?? ''),
        to: String(d.to ?? ''),
        duration: d.duration_seconds,
        status: 'completed',
        startTime: String(d.started_at ?? e.time ?? ''),
      });
    }
    if (e.type === 'sale.recorded' && typeof d.payment_intent_id === 'string' && typeof d.amount === 'number' && typeof d.currency === 'string' && !intents.has(d.payment_intent_id)) {
      intents.set(d.payment_intent_id, {
        id: d.payment_intent_id,
        amount: d.amount,
        currency: d.currency.toLowerCase(),
        status: 'succeeded',
        created: Math.floor(Date.parse(String(e.time)) / 1000) || 0,
      });
    }
    if (e.type === 'crm.synced' && (d.crm === 'hubspot' || d.crm === 'salesforce') && typeof d.crm_record_id === 'string' && !records.has(`${d.crm} ${d.crm_record_id}`)) {
      records.set(`${d.crm} ${d.crm_record_id}`, {
        crm: d.crm,
        id: d.crm_record_id,
        email: typeof d.email === 'string' ? d.email : null,
        phone: typeof d.phone === 'string' ? d.phone : null,
      });
    }
  }
  return { rates, calls: [...calls.values()], paymentIntents: [...intents.values()], crmRecords: [...records.values()] };
}

/** Where the stand-ins' world of a log is written and read: beside it, as its rates are. */
export function worldPath(logPath: string): string {
  return `${logPath.replace(/\.ndjson$/, '')}.world.json`;
}

/** The rates file beside a log. */
export function ratesPath(logPath: string): string {
  return `${logPath.replace(/\.ndjson$/, '')}.rates.json`;
}

/** A world file: what the stand-ins know besides the rates (those are in the rates file). */
export function worldFile(world: DemoWorld): string {
  return `${JSON.stringify({ calls: world.calls, paymentIntents: world.paymentIntents, crmRecords: world.crmRecords }, null, 2)}\n`;
}
