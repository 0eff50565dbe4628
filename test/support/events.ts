/**
 * Fixture builders: a valid event of each catalog type, with overrides. `data` overrides merge
 * into the defaults (one level deep), everything else replaces.
 */
type Overrides = Record<string, unknown> & { data?: Record<string, unknown> };

export const T0 = '2026-03-01T10:00:00Z';

function build(type: string, defaults: Record<string, unknown>, overrides: Overrides = {}) {
  const { data, ...rest } = overrides;
  return {
    specversion: '1.0',
    id: `${type}-1`,
    source: '//test/producer',
    type,
    time: T0,
    ...rest,
    data: { ...defaults, ...(data ?? {}) },
  };
}

export const cardScanned = (o?: Overrides) =>
  build('card.scanned', { card_id: 'card-1', scanned_by: 'user-1', contact: { name: 'Ada', email: 'ada@example.com' } }, o);
export const leadCreated = (o?: Overrides) => build('lead.created', { lead_id: 'lead-1', card_id: 'card-1', owner_id: 'owner-1' }, o);
export const crmSynced = (o?: Overrides) =>
  build('crm.synced', { lead_id: 'lead-1', crm: 'hubspot', crm_record_id: 'hs-1' }, o);
export const leadTagged = (o?: Overrides) => build('lead.tagged', { lead_id: 'lead-1', tags: ['vip'] }, o);
export const followupSent = (o?: Overrides) =>
  build('followup.sent', { lead_id: 'lead-1', channel: 'email', template: 'welcome', message_id: 'msg-1' }, o);
export const callCompleted = (o?: Overrides) =>
  build(
    'call.completed',
    {
      call_sid: `CA${'0123456789abcdef'.repeat(2)}`,
      from: '+14155550100',
      to: '+14155550101',
      duration_seconds: 42,
      started_at: '2026-03-01T09:59:00Z',
    },
    o,
  );
export const saleRecorded = (o?: Overrides) =>
  build(
    'sale.recorded',
    {
      order_id: 'order-1',
      line_items: [
        { sku: 'sku-a', unit_amount: 1500, quantity: 2 },
        { sku: 'sku-b', unit_amount: 500, quantity: 1 },
      ],
      amount: 3500,
      currency: 'USD',
      amount_usd: 3500,
    },
    o,
  );
export const discountIssued = (o?: Overrides) => build('discount.issued', { user_id: 'user-1', program: 'spring', code: 'SPRING10' }, o);

/** One NDJSON text from events (or raw lines). */
export function ndjson(...lines: Array<object | string>): string {
  return lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n';
}
