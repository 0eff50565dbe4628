import { Finding, FINDING_KINDS, type FindingKind } from '../../shared/findings';
import { parseOutcome } from '../../shared/outcome';

/** One finding of every kind, with every field DESIGN §4 gives that kind. */
const EXAMPLES: Record<FindingKind, Finding> = {
  invalid: { kind: 'invalid', action: 'dropped', event_id: 'e1', type: 'lead.created', source: '//crm', line: 3, reason: 'data.lead_id: is required' },
  duplicate: { kind: 'duplicate', action: 'dropped', event_id: 'e2', type: 'card.scanned', source: '//scanner', duplicate_of: 'e1', basis: 'business_key' },
  gap: { kind: 'gap', action: 'reported', source: '//scanner', from_sequence: 4, to_sequence: '90071992547409930' },
  late: { kind: 'late', action: 'reported', event_id: 'e3', type: 'lead.created', source: '//crm', closes: 'chain_broken', upstream_id: 'e0' },
  sequence_jump: { kind: 'sequence_jump', action: 'review', event_id: 'e4', type: 'lead.tagged', source: '//crm', from_sequence: 5, to_sequence: 9007199254740991, reason: 'a reset or a bad number' },
  chain_broken: { kind: 'chain_broken', action: 'reported', event_id: 'e0', type: 'card.scanned', source: '//scanner', line: 1, expected_type: 'lead.created' },
  amount_mismatch: { kind: 'amount_mismatch', action: 'corrected', event_id: 's1', field: 'amount', expected: 3500, actual: 3400 },
  fx_mismatch: { kind: 'fx_mismatch', action: 'review', event_id: 's2', field: 'amount_usd', actual: 100, reason: 'no rate for EUR on 2026-03-01' },
  payment_mismatch: { kind: 'payment_mismatch', action: 'review', event_id: 's3', field: 'status', expected: 'succeeded', actual: 'canceled', reason: 'Stripe reports pi_1 as canceled' },
  call_duration_mismatch: { kind: 'call_duration_mismatch', action: 'corrected', event_id: 'c1', field: 'duration_seconds', expected: 61, actual: 60 },
  crm_mismatch: {
    kind: 'crm_mismatch',
    action: 'review',
    event_id: 'y1',
    type: 'crm.synced',
    field: 'email_phone_swapped',
    expected: { email: 'a***@example.com', phone: '+*********23' },
    actual: { email: '+*********23', phone: 'a***@example.com' },
    reason: "the HubSpot record holds the event's phone as its email and its email as its phone",
  },
  volume_anomaly: {
    kind: 'volume_anomaly',
    action: 'reported',
    series: 'crm.synced',
    hour: '2026-03-02T14:00:00Z',
    expected: 120.5,
    actual: 22,
    lower_bound: 80,
    upper_bound: 161,
    probability: 0.999,
  },
  dead_letter: {
    kind: 'dead_letter',
    action: 'dead_lettered',
    event_id: 's9',
    type: 'sale.recorded',
    source: '//shop',
    subscription: 'revenue-checker-sales',
    class: 'transient',
    delivery_count: 5,
    triage_id: '1772366400000-d-abc',
    reason: 'revenue-checker: UpstreamError STRIPE_503: stripe: 503',
  },
};

describe('the one Finding schema', () => {
  it('names every kind of DESIGN §4 once', () => {
    expect([...FINDING_KINDS].sort()).toEqual(Object.keys(EXAMPLES).sort());
  });

  it.each(Object.values(EXAMPLES))('keeps every field of a $kind finding through a stored outcome', (finding) => {
    const parsed = parseOutcome(JSON.stringify({ findings: [finding] }));
    expect(parsed).toEqual({ ok: true, outcome: { findings: [finding] } });
  });

  it.each([
    ['an unknown kind', { kind: 'vanished', action: 'reported' }],
    ['an unknown action', { kind: 'late', action: 'ignored' }],
    ['a gap without its range', { kind: 'gap', action: 'reported', source: '//a' }],
    ['a duplicate without what it duplicates', { kind: 'duplicate', action: 'dropped', basis: 'id' }],
    ['a broken chain without the expected type', { kind: 'chain_broken', action: 'reported', event_id: 'e' }],
    ['a mismatch without its field', { kind: 'fx_mismatch', action: 'corrected', expected: 1, actual: 2 }],
    ['a volume anomaly without bounds', { kind: 'volume_anomaly', action: 'reported', series: 'x', hour: 'h', expected: 1, actual: 2 }],
    ['a fractional sequence number', { kind: 'gap', action: 'reported', from_sequence: 1.5, to_sequence: 2 }],
    ['a late finding closing something unknown', { kind: 'late', action: 'reported', closes: 'everything' }],
  ])('rejects %s', (_, value) => {
    expect(Finding.safeParse(value).success).toBe(false);
    expect(parseOutcome(JSON.stringify({ findings: [value] })).ok).toBe(false);
  });
});

describe('a finding read back from the ledger', () => {
  it.each(Object.values(EXAMPLES))('keeps the bytes of a $kind finding as its core wrote them', (finding) => {
    const parsed = parseOutcome(JSON.stringify({ findings: [finding] }));
    expect(parsed.ok && JSON.stringify(parsed.outcome.findings[0])).toBe(JSON.stringify(finding));
  });
});
