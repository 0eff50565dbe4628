import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';
import type { CrmSynced } from '../../shared/events/envelope';
import { assertNever } from '../../shared/events/keys';
import type { FindingAction, MismatchFinding } from '../../shared/findings';
import { maskPersonal } from '../../shared/mask';
import type { Outcome } from '../../shared/outcome';
import type { CrmFields, CrmLookupResult } from '../../shared/ports';

export const NAME = 'crm-checker';

export interface CrmConfig {
  /** Write the event's values back to the CRM record (GCP only, `CRM_REPAIR=true`); else report for review. */
  readonly repair: boolean;
  /** The country of a phone number written without its international prefix (ISO 3166-1 alpha-2). */
  readonly defaultCountry: CountryCode;
}

export const DEFAULT_CRM_CONFIG: CrmConfig = { repair: false, defaultCountry: 'US' };

export interface CrmContext {
  readonly now: number;
  readonly config: CrmConfig;
}

/** What the CRM says about the record, or that it was not asked (that CRM's credentials are not configured). */
export type CrmFact = CrmLookupResult | { readonly kind: 'unchecked' };

/** The comparison of DESIGN §3, in one place: emails case-insensitively, phones as E.164. */
export function sameEmail(a: string, b: string): boolean {
  return a.trim().toLowerCase() === b.trim().toLowerCase();
}

/**
 * A phone number in E.164 (`+14155550100`), read with libphonenumber-js whatever its formatting
 * (`(415) 555-0100`, `+1 415.555.0100`, `tel:` URIs…); `undefined` when it is not a number.
 */
export function e164(text: string, defaultCountry: CountryCode): string | undefined {
  const parsed = parsePhoneNumberFromString(text.trim(), { defaultCountry, extract: false });
  return parsed?.number;
}

/** Two phone numbers are the same when their E.164 forms are; text that is no number only equals itself. */
export function samePhone(a: string, b: string, defaultCountry: CountryCode): boolean {
  const [x, y] = [e164(a, defaultCountry), e164(b, defaultCountry)];
  if (x !== undefined && y !== undefined) return x === y;
  return x === undefined && y === undefined && a.trim() === b.trim();
}

/**
 * The CRM rule of DESIGN §3: the record the event says was synced must exist and hold the event's
 * email and phone (a field absent from the event is not compared). A record whose email holds the
 * event's phone and whose phone holds its email is one `email_phone_swapped` finding. The CRM is
 * the one in the wrong, so a finding is for review, or `corrected` when repair is on (the handler
 * then writes the event's values back: `repairOf`). Personal values are masked in the findings.
 */
export function checkCrm(sync: CrmSynced, fact: CrmFact, ctx: CrmContext): Outcome {
  switch (fact.kind) {
    case 'unchecked':
      return { findings: [] };
    case 'not_found':
      return {
        findings: [finding(sync, 'review', 'record', sync.data.crm_record_id, undefined, `the ${crmLabel(sync)} record ${sync.data.crm_record_id} does not exist (${fact.reason})`)],
      };
    case 'found':
      return { findings: compare(sync, fact.record, ctx.config) };
    default:
      return assertNever(fact);
  }
}

function compare(sync: CrmSynced, crm: { readonly email: string | undefined; readonly phone: string | undefined }, config: CrmConfig): MismatchFinding[] {
  const { email, phone } = sync.data;
  const country = config.defaultCountry;
  const action: FindingAction = config.repair ? 'corrected' : 'review';
  const emailOk = email === undefined || (crm.email !== undefined && sameEmail(email, crm.email));
  const phoneOk = phone === undefined || (crm.phone !== undefined && samePhone(phone, crm.phone, country));
  if (emailOk && phoneOk) return [];
  if (email !== undefined && phone !== undefined && crm.email !== undefined && crm.phone !== undefined) {
    if (samePhone(crm.email, phone, country) && sameEmail(crm.phone, email)) {
      const reason = `the ${crmLabel(sync)} record holds the event's phone as its email and its email as its phone`;
      return [finding(sync, action, 'email_phone_swapped', { email: mask(email), phone: mask(phone) }, { email: mask(crm.email), phone: mask(crm.phone) }, reason)];
    }
  }
  const out: MismatchFinding[] = [];
  if (!emailOk && email !== undefined) out.push(finding(sync, action, 'email', mask(email), maskOrNull(crm.email), differs(sync, 'email', crm.email)));
  if (!phoneOk && phone !== undefined) out.push(finding(sync, action, 'phone', mask(phone), maskOrNull(crm.phone), differs(sync, 'phone', crm.phone)));
  return out;
}

/**
 * What repair writes back for an outcome: the event's values of the fields its `corrected`
 * findings name; `undefined` when there is nothing to write.
 */
export function repairOf(sync: CrmSynced, outcome: Outcome): CrmFields | undefined {
  const fields = new Set(outcome.findings.filter((f) => f.kind === 'crm_mismatch' && f.action === 'corrected').map((f) => ('field' in f ? f.field : '')));
  const { email, phone } = sync.data;
  const out: { email?: string; phone?: string } = {};
  if (email !== undefined && (fields.has('email') || fields.has('email_phone_swapped'))) out.email = email;
  if (phone !== undefined && (fields.has('phone') || fields.has('email_phone_swapped'))) out.phone = phone;
  return out.email === undefined && out.phone === undefined ? undefined : out;
}

function crmLabel(sync: CrmSynced): string {
  return sync.data.crm === 'hubspot' ? 'HubSpot' : 'Salesforce';
}

function differs(sync: CrmSynced, field: 'email' | 'phone', actual: string | undefined): string {
  return actual === undefined ? `the ${crmLabel(sync)} record has no ${field}` : `the ${crmLabel(sync)} record holds another ${field}`;
}

function mask(value: string): string {
  return String(maskPersonal(value));
}

function maskOrNull(value: string | undefined): string | null {
  return value === undefined ? null : mask(value);
}

function finding(sync: CrmSynced, action: FindingAction, field: string, expected: unknown, actual: unknown, reason: string): MismatchFinding {
  const f: MismatchFinding = { kind: 'crm_mismatch', action, event_id: sync.id, type: sync.type, source: sync.source, field };
  if (expected !== undefined) f.expected = expected;
  if (actual !== undefined) f.actual = actual;
  f.reason = reason;
  return f;
}
