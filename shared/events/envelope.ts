import { z } from 'zod';
import { catalog, type EventType } from './catalog';
import { RFC3339_PATTERN } from './time';

/**
 * A URI-reference (RFC 3986 §4.1): only the characters the grammar allows, percent escapes
 * well formed. Structure beyond that is the producer's business.
 */
const UriReference = z
  .string()
  .min(1, { message: 'must be a non-empty URI-reference' })
  .regex(/^(?:[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})+$/, {
    message: 'must be a URI-reference (RFC 3986)',
  });

/** The CloudEvents 1.0 attributes of DESIGN §2; extension attributes are kept as they are. */
export const EnvelopeFields = {
  specversion: z.literal('1.0', { message: 'must be "1.0"' }),
  id: z.string().min(1, { message: 'must be 1-256 characters' }).max(256, { message: 'must be 1-256 characters' }),
  source: UriReference,
  // The grammar only: the calendar check (no 30 February) is in validateEvent, which parses the
  // instant anyway; parsing it here too would double the cost on replay's hot path.
  time: z.string().regex(RFC3339_PATTERN, { message: 'must be an RFC 3339 date-time with offset' }),
  // Compared as integers and printed as JSON numbers in findings (DESIGN §4): exact only up to
  // 2^53-1, far beyond any producer's counter, so a longer number is a bad event, not a crash.
  sequence: z
    .string()
    .regex(/^\d+$/, { message: 'must be a string of decimal digits' })
    .refine(isSafeSequence, { message: `must be at most ${Number.MAX_SAFE_INTEGER} (2^53-1)` })
    .optional(),
  subject: z.string().optional(),
  correlationid: z.string().optional(),
  correctionof: z.string().min(1).optional(),
};

function isSafeSequence(digits: string): boolean {
  return digits.length <= 16 || /^0+\d{1,16}$/.test(digits) ? Number(digits) <= Number.MAX_SAFE_INTEGER : false;
}

/**
 * The CloudEvents JSON format (§3): an attribute whose value is `null` is absent. Returns the
 * object without its null attributes (`data` is not an attribute: a null `data` stays and fails
 * its schema), or the object itself when it has none, the common case, with no copy.
 */
export function withoutNullAttributes(raw: Record<string, unknown>): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined;
  for (const key in raw) {
    if (raw[key] === null && key !== 'data') {
      copy ??= { ...raw };
      delete copy[key];
    }
  }
  return copy ?? raw;
}

function variant<T extends EventType>(type: T) {
  return z.looseObject({ ...EnvelopeFields, type: z.literal(type), data: catalog[type] });
}

export const CardScanned = variant('card.scanned');
export type CardScanned = z.infer<typeof CardScanned>;
export const LeadCreated = variant('lead.created');
export type LeadCreated = z.infer<typeof LeadCreated>;
export const CrmSynced = variant('crm.synced');
export type CrmSynced = z.infer<typeof CrmSynced>;
export const LeadTagged = variant('lead.tagged');
export type LeadTagged = z.infer<typeof LeadTagged>;
export const FollowupSent = variant('followup.sent');
export type FollowupSent = z.infer<typeof FollowupSent>;
export const CallCompleted = variant('call.completed');
export type CallCompleted = z.infer<typeof CallCompleted>;
export const SaleRecorded = variant('sale.recorded');
export type SaleRecorded = z.infer<typeof SaleRecorded>;
export const DiscountIssued = variant('discount.issued');
export type DiscountIssued = z.infer<typeof DiscountIssued>;

/** Each type's whole event schema (envelope and data), by type. */
export const envelopes: Readonly<Record<EventType, z.ZodType>> = {
  'card.scanned': CardScanned,
  'lead.created': LeadCreated,
  'crm.synced': CrmSynced,
  'lead.tagged': LeadTagged,
  'followup.sent': FollowupSent,
  'call.completed': CallCompleted,
  'sale.recorded': SaleRecorded,
  'discount.issued': DiscountIssued,
};

/** Any event of the catalog, discriminated on `type`. */
export const BusinessEvent = z.discriminatedUnion('type', [
  CardScanned,
  LeadCreated,
  CrmSynced,
  LeadTagged,
  FollowupSent,
  CallCompleted,
  SaleRecorded,
  DiscountIssued,
]);
export type BusinessEvent = z.infer<typeof BusinessEvent>;
