import { worldOfLog } from '../../cli/generate/log-world';
import { compareFindings, findingKey, percentile, uniqueDoubles } from '../../tools/load/compare';

describe('load run: what a finding is about, and the comparison with replay', () => {
  it.each([
    [{ kind: 'gap', source: '//s', from_sequence: 4, to_sequence: 6, event_id: 'e9' }, 'gap //s 4..6'],
    [{ kind: 'volume_anomaly', series: 'card.scanned', hour: '2026-03-01T10:00:00Z' }, 'volume_anomaly card.scanned 2026-03-01T10:00:00Z'],
    [{ kind: 'late', event_id: 'e1', closes: 'gap' }, 'late e1 gap'],
    [{ kind: 'fx_mismatch', event_id: 'e2', field: 'amount_usd' }, 'fx_mismatch e2 amount_usd'],
    [{ kind: 'duplicate', event_id: 'e3', duplicate_of: 'e0' }, 'duplicate e3'],
    [{ kind: 'invalid' }, 'invalid (no id)'],
  ])('%j is about %s', (finding, key) => {
    expect(findingKey(finding)).toBe(key);
  });

  it('equal as multisets, line numbers and reasons ignored', () => {
    const replay = [
      { kind: 'duplicate', event_id: 'a', line: 3 },
      { kind: 'invalid', line: 7 },
      { kind: 'invalid', line: 9 },
    ];
    const pipeline = [{ kind: 'invalid' }, { kind: 'duplicate', event_id: 'a', reason: 'x' }, { kind: 'invalid' }];
    expect(compareFindings(pipeline, replay)).toEqual({ equal: true, differences: [] });
  });

  it('lists what only one side has, with counts', () => {
    const replay = [{ kind: 'invalid' }, { kind: 'invalid' }, { kind: 'chain_broken', event_id: 'c' }];
    const pipeline = [{ kind: 'invalid' }, { kind: 'gap', source: '//s', from_sequence: 2, to_sequence: 2 }];
    expect(compareFindings(pipeline, replay)).toEqual({
      equal: false,
      differences: ['only in replay: chain_broken c', 'only in replay: invalid (no id)', 'only in the pipeline: gap //s 2..2'],
    });
    expect(compareFindings([{ kind: 'late', event_id: 'l' }, { kind: 'late', event_id: 'l' }], []).differences).toEqual(['only in the pipeline: late l (x2)']);
  });

  it('percentiles by nearest rank', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeUndefined();
  });

  it("a log's world knows its calls and payment intents, once each, and skips what is not an event", () => {
    const rates = { base: 'USD' as const, days: { '2026-03-01': { EUR: 0.92 } } };
    const call = { type: 'call.completed', time: '2026-03-01T00:00:00Z', data: { call_sid: `CA${'a'.repeat(32)}`, from: '+14155550100', to: '+14155550101', duration_seconds: 42, started_at: '2026-03-01T00:00:00Z' } };
    const sale = { type: 'sale.recorded', time: '2026-03-01T00:00:01Z', data: { order_id: 'o1', payment_intent_id: 'pi_1', amount: 1200, currency: 'EUR', amount_usd: 1304, line_items: [] } };
    const world = worldOfLog([JSON.stringify(call), '{"specversion":', JSON.stringify(sale), JSON.stringify(call)], rates);
    expect(world.rates).toBe(rates);
    expect(world.calls).toEqual([{ sid: call.data.call_sid, from: '+14155550100', to: '+14155550101', duration: 42, status: 'completed', startTime: '2026-03-01T00:00:00Z' }]);
    expect(world.paymentIntents).toEqual([{ id: 'pi_1', amount: 1200, currency: 'eur', status: 'succeeded', created: Date.parse('2026-03-01T00:00:01Z') / 1000 }]);
  });
});

describe('doubled on events-unique: two different deliveries accepted, not one delivery published again', () => {
  it.each([
    ['one copy each', [['a', 'r1'], ['b', 'r2']], { doubled: [], publishedAgain: 0 }],
    // A deduplicator killed after its publish and before its ack: the redelivery publishes the same delivery again.
    ['the same delivery published twice', [['a', 'r1'], ['a', 'r1'], ['b', 'r2']], { doubled: [], publishedAgain: 1 }],
    // Two producer deliveries of one event both accepted: the duplicate went through.
    ['two deliveries of one event accepted', [['a', 'r1'], ['a', 'r9'], ['b', 'r2']], { doubled: ['a'], publishedAgain: 0 }],
    ['both at once', [['a', 'r1'], ['a', 'r9'], ['a', 'r1'], ['b', 'r2'], ['b', 'r2'], ['b', 'r2']], { doubled: ['a'], publishedAgain: 3 }],
  ])('%s', (_, copies, expected) => {
    expect(uniqueDoubles(copies.map(([eventId, ingestId]) => ({ eventId: eventId!, ingestId: ingestId! })))).toEqual(expected);
  });
});
