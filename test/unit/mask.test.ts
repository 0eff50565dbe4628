import { maskEventData, maskText, maskValue } from '../../shared/mask';
import { PERSONAL_DATA_PATHS } from '../../shared/events/personal';
import { EXAMPLE_EVENTS } from '../../shared/events/examples';
import { jsonLogger } from '../../shared/log';

describe('masking personal data in logs', () => {
  it.each([
    ['ada.lovelace@example.com', 'a***@example.com'],
    ['call +14155550123 now', 'call +*********23 now'],
    ['+44 20 7946 0958', '+**********58'],
    ['(415) 555-0100', '********00'],
    ['415-555-0100', '********00'],
    ['from +14155550100 to +14155550101', 'from +*********00 to +*********01'],
    ['call 020 7946 0958 back', 'call *********58 back'],
    ['06 12 34 56 78', '********78'],
    ['06.12.34.56.78', '********78'],
    ['dial 14155550100', 'dial *********00'],
    ['447700900123', '**********23'],
    ['josé.garcía@exämple.es', 'j***@exämple.es'],
    ['用户@例子.中国', '用***@例子.中国'],
    ['Ünal <ünal@straße.de>', 'Ünal <ü***@straße.de>'],
  ])('masks %p', (text, masked) => {
    expect(maskText(text)).toBe(masked);
  });

  it.each([
    '2026-11-22T03:25:03.000Z',
    'watermark 2026-03-01T10:00:00+01:00',
    'order-1234567890',
    'CA0123456789abcdef0123456789abcdef',
    'ev-123456-789',
    '42 events in 1234567 ms',
    'lead/123',
    'epoch 1733011200 s, 1733011200123 ms',
    'dates 01.02.2026 and 01/02/2026, 12:30:45',
    'sequence 36214-36215 missing',
    '//scanner/ios',
    'version 1.16.18',
  ])('leaves %p alone', (text) => {
    expect(maskText(text)).toBe(text);
  });

  it('masks inside nested values and in the logger', () => {
    expect(maskValue({ a: ['x@y.io', { phone: '+14155550123' }], n: 5 })).toEqual({ a: ['x***@y.io', { phone: '+*********23' }], n: 5 });
    const lines: string[] = [];
    jsonLogger((l) => lines.push(l)).log('INFO', 'lead from bob@example.com', { to: '+14155550123', at: '2026-03-01T10:00:00Z' });
    expect(JSON.parse(lines[0]!)).toEqual({ severity: 'INFO', message: 'lead from b***@example.com', to: '+*********23', at: '2026-03-01T10:00:00Z' });
  });

  it('knows the personal fields from the catalog schemas', () => {
    expect(PERSONAL_DATA_PATHS).toEqual({
      'card.scanned': [['contact']],
      'lead.created': [['email'], ['phone']],
      'crm.synced': [['email'], ['phone']],
      'lead.tagged': [],
      'followup.sent': [],
      'call.completed': [['from'], ['to']],
      'sale.recorded': [],
      'discount.issued': [],
    });
  });

  it.each<[string, Record<string, unknown>, Record<string, unknown>]>([
    // By path, whatever the shape: a name, a phone the regex would not know, an odd email.
    ['card.scanned', { card_id: 'c-1', contact: { name: 'Ada', email: 'ada@example.com', phone: '555 0100' } }, { card_id: 'c-1', contact: { name: 'A***', email: 'a***@example.com', phone: '*** **00' } }],
    ['lead.created', { lead_id: 'l-1', email: 'not-quite-an-email', phone: '0100' }, { lead_id: 'l-1', email: 'n***', phone: '**00' }],
    ['crm.synced', { lead_id: 'l-1', crm: 'hubspot', phone: '+33 6 12 34 56 78' }, { lead_id: 'l-1', crm: 'hubspot', phone: '+*********78' }],
    ['call.completed', { call_sid: 'CA1', from: '+14155550100', to: '+442079460958', duration_seconds: 3 }, { call_sid: 'CA1', from: '+*********00', to: '+**********58', duration_seconds: 3 }],
    // Not personal by path: left to the regex net.
    ['lead.tagged', { lead_id: 'l-1', tags: ['vip', 'bob@example.com'] }, { lead_id: 'l-1', tags: ['vip', 'bob@example.com'] }],
    ['no.such.type', { email: 'x' }, { email: 'x' }],
  ])('masks %s data by path', (type, data, masked) => {
    expect(maskEventData(type, data)).toEqual(masked);
  });

  it('masks whole events by path and by shape in maskValue, at any depth, leaving other fields alone', () => {
    const event = { ...EXAMPLE_EVENTS['card.scanned'], data: { card_id: 'card-1001', scanned_by: 'rep-17', contact: { name: 'Ada Example', email: 'ada@example.com', phone: '+14155550100' } } };
    const masked = maskValue({ record: { original: event }, note: 'from 020 7946 0958' }) as { record: { original: { data: Record<string, unknown>; id: string } }; note: string };
    expect(masked.record.original.data).toEqual({ card_id: 'card-1001', scanned_by: 'rep-17', contact: { name: 'A***', email: 'a***@example.com', phone: '+*********00' } });
    expect(masked.record.original.id).toBe(EXAMPLE_EVENTS['card.scanned'].id);
    expect(masked.note).toBe('from *********58');
  });
});
