import { maskText, maskValue } from '../../shared/mask';
import { jsonLogger } from '../../shared/log';

describe('masking personal data in logs', () => {
  it.each([
    ['ada.lovelace@example.com', 'a***@example.com'],
    ['call +14155550123 now', 'call +*********23 now'],
    ['+44 20 7946 0958', '+**********58'],
    ['(415) 555-0100', '********00'],
    ['415-555-0100', '********00'],
    ['from +14155550100 to +14155550101', 'from +*********00 to +*********01'],
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
  ])('leaves %p alone', (text) => {
    expect(maskText(text)).toBe(text);
  });

  it('masks inside nested values and in the logger', () => {
    expect(maskValue({ a: ['x@y.io', { phone: '+14155550123' }], n: 5 })).toEqual({ a: ['x***@y.io', { phone: '+*********23' }], n: 5 });
    const lines: string[] = [];
    jsonLogger((l) => lines.push(l)).log('INFO', 'lead from bob@example.com', { to: '+14155550123', at: '2026-03-01T10:00:00Z' });
    expect(JSON.parse(lines[0]!)).toEqual({ severity: 'INFO', message: 'lead from b***@example.com', to: '+*********23', at: '2026-03-01T10:00:00Z' });
  });
});
