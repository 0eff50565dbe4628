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
  sequence: z.string().regex(/^\d+$/, { message: 'must be a string of decimal digits' }).optional(),
  subject: z.string().optional(),
  correlationid: z.string().optional(),
  correctionof: z.string().min(1).optional(),
};

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
