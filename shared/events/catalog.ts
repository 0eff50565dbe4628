import { z } from 'zod';
import { isCurrency } from './currency';
import { parseRfc3339 } from './time';

/** RFC 3339 date-time with offset, checked with the exact grammar (not `Date.parse`). */
export const Rfc3339 = z
  .string()
  .refine((s) => parseRfc3339(s) !== undefined, { message: 'must be an RFC 3339 date-time with offset' });

const Id = z.string().min(1, { message: 'must be a non-empty string' });
const Email = z.string().regex(/^[^\s@]+@[^\s@]+$/, { message: 'must be an email address' });
const Phone = z.string().min(1, { message: 'must be a non-empty string' });
const E164 = z.string().regex(/^\+[1-9]\d{1,14}$/, { message: 'must be an E.164 phone number' });
const MinorUnits = z.int().nonnegative();
const Currency = z
  .string()
  .refine(isCurrency, { message: 'must be an upper-case ISO 4217 currency code' });

export const CardScannedData = z.looseObject({
  card_id: Id,
  scanned_by: Id,
  contact: z.looseObject({ name: z.string().optional(), email: Email.optional(), phone: Phone.optional() }),
});
export type CardScannedData = z.infer<typeof CardScannedData>;

export const LeadCreatedData = z.looseObject({
  lead_id: Id,
  card_id: Id.optional(),
  owner_id: Id,
  email: Email.optional(),
  phone: Phone.optional(),
});
export type LeadCreatedData = z.infer<typeof LeadCreatedData>;

export const CrmSyncedData = z.looseObject({
  lead_id: Id,
  crm: z.enum(['hubspot', 'salesforce']),
  crm_record_id: Id,
  email: Email.optional(),
  phone: Phone.optional(),
});
export type CrmSyncedData = z.infer<typeof CrmSyncedData>;

export const LeadTaggedData = z.looseObject({
  lead_id: Id,
  tags: z.array(z.string()).min(1, { message: 'must list at least one tag' }),
});
export type LeadTaggedData = z.infer<typeof LeadTaggedData>;

export const FollowupSentData = z.looseObject({
  lead_id: Id,
  channel: z.enum(['email', 'sms', 'imessage', 'push']),
  template: Id,
  message_id: Id,
});
export type FollowupSentData = z.infer<typeof FollowupSentData>;

export const CallCompletedData = z.looseObject({
  call_sid: z.string().regex(/^CA[0-9a-fA-F]{32}$/, { message: 'must be CA followed by 32 hex digits' }),
  from: E164,
  to: E164,
  duration_seconds: z.int().nonnegative(),
  started_at: Rfc3339,
});
export type CallCompletedData = z.infer<typeof CallCompletedData>;

export const LineItem = z.looseObject({
  sku: Id,
  unit_amount: MinorUnits,
  quantity: z.int().min(1),
});
export type LineItem = z.infer<typeof LineItem>;

export const SaleRecordedData = z.looseObject({
  order_id: Id,
  payment_intent_id: z.string().regex(/^pi_\w+$/, { message: 'must be a Stripe PaymentIntent id (pi_…)' }).optional(),
  line_items: z.array(LineItem).min(1, { message: 'must list at least one line item' }),
  amount: MinorUnits,
  currency: Currency,
  amount_usd: MinorUnits,
  fx_rate: z.number().positive().optional(),
});
export type SaleRecordedData = z.infer<typeof SaleRecordedData>;

export const DiscountIssuedData = z.looseObject({
  user_id: Id,
  program: Id,
  code: Id,
});
export type DiscountIssuedData = z.infer<typeof DiscountIssuedData>;

/** The catalog of DESIGN §2: event `type` to the schema of its `data`. */
export const catalog = {
  'card.scanned': CardScannedData,
  'lead.created': LeadCreatedData,
  'crm.synced': CrmSyncedData,
  'lead.tagged': LeadTaggedData,
  'followup.sent': FollowupSentData,
  'call.completed': CallCompletedData,
  'sale.recorded': SaleRecordedData,
  'discount.issued': DiscountIssuedData,
} as const;

export type EventType = keyof typeof catalog;
export const eventTypes = Object.keys(catalog) as EventType[];

export function isEventType(value: unknown): value is EventType {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(catalog, value);
}
