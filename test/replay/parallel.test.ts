import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { generateLog } from '../../cli/generate/log';
import { fuzzChunks } from '../../tools/fuzz/hostile';
import * as fx from '../support/events';

/**
 * Parallel replay (worker threads preparing lines) against the single-threaded engine
 * (--workers 0): byte-identical findings.ndjson, events.ndjson and summary.json. The worker
 * path needs the built worker script, so these run the built command, as cli.test.ts does.
 */
const CLI = resolve(__dirname, '../../dist/cli/event-recovery.js');
const NOW = '2026-12-01T00:00:00Z';
const FILES = ['findings.ndjson', 'events.ndjson', 'summary.json'];

function replay(input: string, out: string, workers: number, extra: string[] = []): Record<string, string> {
  const r = spawnSync(process.execPath, [CLI, 'replay', input, '--out', out, '--now', NOW, '--quiet', '--workers', String(workers), ...extra], {
    encoding: 'utf8',
    timeout: 240_000,
  });
  // Nothing but the input's warnings (this log is out of time order on purpose): no error, no trace.
  expect(r.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('replay: warning: '))).toEqual([]);
  expect(r.status).toBe(0);
  return Object.fromEntries(FILES.map((f) => [f, readFileSync(join(out, f), 'utf8')]));
}

describe('parallel replay gives the single-threaded outputs, byte for byte', () => {
  let dir: string;
  beforeAll(() => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build (npm ci does it)`);
    dir = mkdtempSync(join(tmpdir(), 'parallel-test-'));
  });

  it('on a log of every line shape and fault: BOM, CRLF, blank, over 1 MiB, malformed, duplicates, gaps, chains, late, a last line without newline', () => {
    const seq = (n: number) => String(n);
    const input = join(dir, 'edge.ndjson');
    const lines = [
      JSON.stringify(fx.cardScanned({ id: 'c1', sequence: seq(1), data: { card_id: 'k1' } })),
      JSON.stringify(fx.cardScanned({ id: 'c1', sequence: seq(1), data: { card_id: 'k1' } })), // same id
      JSON.stringify(fx.cardScanned({ id: 'c2', sequence: seq(2), data: { card_id: 'k1', scanned_by: 'x' } })), // business key
      JSON.stringify(fx.leadTagged({ id: 't1', sequence: seq(3) })),
      JSON.stringify(fx.leadTagged({ id: 't2', sequence: seq(3) })), // content
      '',
      '{"specversion":"1.0","id":',
      `{"pad":"${'x'.repeat(1024 * 1024 + 10)}"}`,
      JSON.stringify(fx.saleRecorded({ id: 's1', sequence: seq(6), time: '2026-03-01T10:30:00+02:00', data: { amount: 9999 } })),
      JSON.stringify(fx.cardScanned({ id: 'c9', sequence: seq(9), time: '2026-03-01T11:00:00Z', data: { card_id: 'k9' } })),
      JSON.stringify(fx.leadTagged({ id: 't4', sequence: seq(4), time: '2026-03-01T11:00:00Z' })), // late: closes the gap
      JSON.stringify(fx.callCompleted({ id: 'call', time: '2026-03-01T10:59:00Z' })),
      JSON.stringify(fx.cardScanned({ id: 'future', time: '2027-01-01T00:00:00Z' })),
      JSON.stringify(fx.leadTagged({ id: 'bad-time', time: '2026-02-30T00:00:00Z' })),
    ];
    writeFileSync(input, `\uFEFF${lines.join('\r\n')}\r\n${JSON.stringify(fx.discountIssued({ id: 'last' }))}`);
    const single = replay(input, join(dir, 'edge-0'), 0);
    expect(single['findings.ndjson']!.split('\n').length).toBeGreaterThan(8);
    for (const workers of [1, 2, 3]) expect(replay(input, join(dir, `edge-${workers}`), workers)).toEqual(single);
  });

  it('on events whose text is not the schema\'s copy: keys in another order, null and unknown attributes, spacing, escapes (a correction copies them)', () => {
    /** The event with the keys of every object in reverse order. */
    const reversed = (value: unknown): unknown =>
      value === null || typeof value !== 'object' ? value : Array.isArray(value) ? value.map(reversed) : Object.fromEntries(Object.entries(value).reverse().map(([k, v]) => [k, reversed(v)]));
    // 3500 EUR cents at 2 EUR to the dollar is 1750 US cents, not 2000: each sale gets a correction, a copy of the event.
    const sale = (id: string, extra: object = {}) => fx.saleRecorded({ id, ...extra, data: { order_id: `order-${id}`, currency: 'EUR', amount_usd: 2000 } });
    const input = join(dir, 'shapes.ndjson');
    writeFileSync(
      input,
      [
        JSON.stringify(reversed(sale('s-reversed'))),
        JSON.stringify({ ...sale('s-null'), subject: null, correlationid: null }),
        JSON.stringify({ ...sale('s-unknown', { 'x-ext': 1 }), data: { ...sale('x').data, note: { b: 1, a: [2, { d: 3, c: 4 }] } } }),
        JSON.stringify(sale('s-spaced'), null, 1).replace(/\n/g, ''),
        JSON.stringify(sale('s-escaped')).replace('"order-s-escaped"', '"\\u006frder-s-escaped"'),
        JSON.stringify(sale('s-plain')),
      ].join('\n') + '\n',
    );
    const rates = join(dir, 'shapes.rates.json');
    writeFileSync(rates, JSON.stringify({ base: 'USD', days: { '2026-03-01': { EUR: 2 } } }));
    const single = replay(input, join(dir, 'shapes-0'), 0, ['--rates', rates]);
    const corrections = single['events.ndjson']!.split('\n').filter((l) => l.includes('correctionof'));
    expect(corrections.length).toBeGreaterThanOrEqual(5);
    for (const workers of [1, 2]) expect(replay(input, join(dir, `shapes-${workers}`), workers, ['--rates', rates])).toEqual(single);
  });

  it('on the fuzz corpus: hostile lines (wrong types, -0 and unsafe numbers, __proto__ keys, lone surrogates, odd offsets) and valid probes', () => {
    const input = join(dir, 'fuzz.ndjson');
    writeFileSync(input, Buffer.concat([...fuzzChunks(13, { lines: 10_000, probeEvery: 97, oversized: 2 })]));
    const single = replay(input, join(dir, 'fuzz-0'), 0, ['--now', '2026-03-01T12:00:00Z']);
    const summary = JSON.parse(single['summary.json']!) as Record<string, number>;
    expect(summary.accepted).toBeGreaterThan(1_000);
    expect(summary.invalid).toBeGreaterThan(1_000);
    for (const workers of [1, 2]) expect(replay(input, join(dir, `fuzz-${workers}`), workers, ['--now', '2026-03-01T12:00:00Z'])).toEqual(single);
  }, 240_000);

  describe('on a generated log of 100,000 events with every fault kind of the generator', () => {
    let input: string;
    let rates: string;
    let single: Record<string, string>;
    beforeAll(async () => {
      input = join(dir, 'gen.ndjson');
      const log = await generateLog(input, 100_000, 7);
      // Lines the generator does not make: over 1 MiB, blank, and a final line without newline.
      appendFileSync(input, `{"pad":"${'y'.repeat(1024 * 1024 + 1)}"}\n\n{"specversion":"1.0"}`);
      rates = join(dir, 'gen.rates.json');
      writeFileSync(rates, JSON.stringify(log.rates));
      single = replay(input, join(dir, 'gen-0'), 0, ['--rates', rates, '--grace-minutes', '1', '--window-hours', '0.2']);
    }, 240_000);

    it.each([1, 2, 3])('with %i workers', (workers) => {
      const summary = JSON.parse(single['summary.json']!) as Record<string, number>;
      expect(summary.duplicates).toBeGreaterThan(500);
      expect(summary.invalid).toBeGreaterThan(100);
      expect(summary.gaps).toBeGreaterThan(10);
      expect(replay(input, join(dir, `gen-${workers}`), workers, ['--rates', rates, '--grace-minutes', '1', '--window-hours', '0.2'])).toEqual(single);
    }, 240_000);
  });
});
