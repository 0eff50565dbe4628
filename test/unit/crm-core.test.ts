import { checkCrm, DEFAULT_CRM_CONFIG, e164, repairOf, samePhone, type CrmFact } from '../../functions/crm-checker/core';
import { CrmSynced } from '../../shared/events/envelope';
import { Outcome } from '../../shared/outcome';
import { crmSynced } from '../support/events';

const ctx = { now: Date.parse('2026-03-01T12:00:00Z'), config: DEFAULT_CRM_CONFIG };
const about = { kind: 'crm_mismatch', event_id: 'sync-1', type: 'crm.synced', source: '//test/producer' };
const sync = (data: { email?: string; phone?: string; crm?: 'hubspot' | 'salesforce' }) =>
  CrmSynced.parse(crmSynced({ id: 'sync-1', data: { crm_record_id: '00Q5e00000AbCdE', ...data } }));
const record = (email: string | undefined, phone: string | undefined): CrmFact => ({ kind: 'found', record: { id: '00Q5e00000AbCdE', email, phone } });

const EMAIL = 'Ada.Lovelace@Example.com';
const PHONE = '+14155550123';

describe('crm-checker core', () => {
  it.each<[string, { email?: string; phone?: string }, CrmFact, unknown[]]>([
    ['the same values', { email: EMAIL, phone: PHONE }, record(EMAIL, PHONE), []],
    ['an email in another case', { email: EMAIL, phone: PHONE }, record('ada.lovelace@example.COM', PHONE), []],
    ['a phone in another format', { email: EMAIL, phone: PHONE }, record(EMAIL, '(415) 555-0123'), []],
    ['a phone with dots and the prefix', { phone: '415.555.0123' }, record(undefined, '+1 415-555-0123'), []],
    ['fields absent from the event are not compared', {}, record('someone@else.org', '+442079460958'), []],
    ['without the CRM (no credentials)', { email: EMAIL }, { kind: 'unchecked' }, []],
    [
      'no such record',
      { email: EMAIL },
      { kind: 'not_found', reason: 'HubSpot: 404 Object not found.' },
      [{ ...about, action: 'review', field: 'record', expected: '00Q5e00000AbCdE', reason: 'the HubSpot record 00Q5e00000AbCdE does not exist (HubSpot: 404 Object not found.)' }],
    ],
    [
      'email and phone swapped: one finding, not two',
      { email: EMAIL, phone: PHONE },
      record('+1 (415) 555-0123', 'ada.lovelace@example.com'),
      [
        {
          ...about,
          action: 'review',
          field: 'email_phone_swapped',
          expected: { email: 'A***@Example.com', phone: '+*********23' },
          actual: { email: '+1 ********23', phone: 'a***@example.com' },
          reason: "the HubSpot record holds the event's phone as its email and its email as its phone",
        },
      ],
    ],
    [
      'another email',
      { email: EMAIL, phone: PHONE },
      record('ada@example.net', PHONE),
      [{ ...about, action: 'review', field: 'email', expected: 'A***@Example.com', actual: 'a***@example.net', reason: 'the HubSpot record holds another email' }],
    ],
    [
      'another phone',
      { email: EMAIL, phone: PHONE },
      record(EMAIL, '+14155550199'),
      [{ ...about, action: 'review', field: 'phone', expected: '+*********23', actual: '+*********99', reason: 'the HubSpot record holds another phone' }],
    ],
    [
      'a record without the phone',
      { phone: PHONE },
      record(EMAIL, undefined),
      [{ ...about, action: 'review', field: 'phone', expected: '+*********23', actual: null, reason: 'the HubSpot record has no phone' }],
    ],
    [
      'both different, not swapped: two findings',
      { email: EMAIL, phone: PHONE },
      record('bob@example.com', '+14155550100'),
      [
        { ...about, action: 'review', field: 'email', expected: 'A***@Example.com', actual: 'b***@example.com', reason: 'the HubSpot record holds another email' },
        { ...about, action: 'review', field: 'phone', expected: '+*********23', actual: '+*********00', reason: 'the HubSpot record holds another phone' },
      ],
    ],
    [
      'the phone copied into the email, the phone kept: not a swap',
      { email: EMAIL, phone: PHONE },
      record(PHONE, PHONE),
      [{ ...about, action: 'review', field: 'email', expected: 'A***@Example.com', actual: '+*********23', reason: 'the HubSpot record holds another email' }],
    ],
  ])('%s', (_name, data, fact, findings) => {
    const outcome = checkCrm(sync(data), fact, ctx);
    expect(outcome).toEqual({ findings });
    // What the ledger keeps: a valid outcome with no personal value in it.
    expect(Outcome.safeParse(outcome).success).toBe(true);
    expect(JSON.stringify(outcome)).not.toMatch(/Lovelace|5550123|lovelace/);
  });

  it('names Salesforce in its reasons', () => {
    const outcome = checkCrm(sync({ crm: 'salesforce', email: EMAIL }), record('x@example.org', undefined), ctx);
    expect(outcome.findings).toEqual([expect.objectContaining({ field: 'email', reason: 'the Salesforce record holds another email' })]);
  });

  it('reports corrected when repair is on, and writes back exactly the fields found wrong', () => {
    const repair = { ...ctx, config: { ...DEFAULT_CRM_CONFIG, repair: true } };
    const swapped = sync({ email: EMAIL, phone: PHONE });
    const out = checkCrm(swapped, record(PHONE, EMAIL), repair);
    expect(out.findings.map((f) => ['field' in f ? f.field : '', f.action])).toEqual([['email_phone_swapped', 'corrected']]);
    expect(repairOf(swapped, out)).toEqual({ email: EMAIL, phone: PHONE });
    const phoneOnly = checkCrm(swapped, record(EMAIL, '+14155550199'), repair);
    expect(repairOf(swapped, phoneOnly)).toEqual({ phone: PHONE });
    // A missing record stays for review: there is nothing to write back to.
    const missing = checkCrm(swapped, { kind: 'not_found', reason: '404' }, repair);
    expect(missing.findings.map((f) => f.action)).toEqual(['review']);
    expect(repairOf(swapped, missing)).toBeUndefined();
    // Without repair nothing is written.
    expect(repairOf(swapped, checkCrm(swapped, record(PHONE, EMAIL), ctx))).toBeUndefined();
  });

  it.each([
    ['+1 (415) 555-0123', 'US', '+14155550123'],
    ['415 555 0123', 'US', '+14155550123'],
    ['020 7946 0958', 'GB', '+442079460958'],
    ['+44 20 7946 0958', 'US', '+442079460958'],
    ['n/a', 'US', undefined],
  ] as const)('reads %s (default country %s) as %s', (text, country, expected) => {
    expect(e164(text, country)).toBe(expected);
  });

  it('compares text that is no phone number only with itself', () => {
    expect(samePhone('n/a', 'n/a', 'US')).toBe(true);
    expect(samePhone('n/a', '+14155550123', 'US')).toBe(false);
  });
});
