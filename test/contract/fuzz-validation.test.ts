import { MemoryPublisher } from '../../shared/adapters/memory-publisher';
import { silentLogger } from '../../shared/log';
import { TOPICS } from '../../shared/topology';
import { deduplicatorHandler } from '../../functions/deduplicator/handler';
import { MemoryDedupStore } from '../../functions/deduplicator/state';
import { DEFAULT_DEDUP_CONFIG } from '../../functions/deduplicator/core';
import { fuzzChunks } from '../../tools/fuzz/hostile';
import { serveFunction } from '../support/harness';

/**
 * A sample of the fuzz lines through the deduplicator's validation over HTTP, as push bodies GCP and the emulator
 * send (through the Functions Framework): every one acked once and routed, never a 500 (a
 * permanent problem retried until it dead-letters), never a prototype polluted.
 */
const SAMPLE = Number(process.env.FUZZ_HTTP_LINES ?? 1_000);
const NOW = Date.parse('2026-03-01T12:00:00Z');

function lines(): Buffer[] {
  const text = Buffer.concat([...fuzzChunks(7, { lines: SAMPLE, probeEvery: 50, oversized: 2 })]);
  const out: Buffer[] = [];
  for (let start = 0; start < text.length; ) {
    const nl = text.indexOf(10, start);
    out.push(text.subarray(start, nl));
    start = nl + 1;
  }
  return out;
}

describe(`fuzz: ${SAMPLE.toLocaleString('en-US')} hostile push bodies through the deduplicator's validation over HTTP`, () => {
  it('acks every one once: valid ones forwarded byte for byte, the rest routed with a reason and one finding', async () => {
    const before = Object.getOwnPropertyNames(Object.prototype).sort();
    const publisher = new MemoryPublisher();
    const server = await serveFunction('deduplicator-fuzz', deduplicatorHandler({ publisher, store: new MemoryDedupStore(), clock: { now: () => NOW }, config: DEFAULT_DEDUP_CONFIG, validation: { maxFutureMs: 300_000 }, logger: silentLogger }) as never);
    const statuses = new Map<number, number>();
    let valid = 0;
    let invalid = 0;
    try {
      const sample = lines();
      expect(sample).toHaveLength(SAMPLE);
      for (const [i, bytes] of sample.entries()) {
        const id = `fz-${i}`;
        // Every 10th as the emulator sends an attributes-only message, every 25th with data that is not base64.
        const data = i % 10 === 9 ? '' : i % 25 === 24 ? `${bytes.toString('base64')}!` : bytes.toString('base64');
        const body = { message: { data, attributes: { n: String(i) }, messageId: id, message_id: id, publishTime: '2026-03-01T11:59:00Z' }, subscription: 'projects/demo/subscriptions/deduplicator-events-raw' };
        const before = publisher.messages.length;
        const res = await fetch(`${server.url}/projects/demo/topics/events-raw`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        const published = publisher.messages.slice(before);
        // A valid one goes on once, to events-unique, or (a hostile line that repeats an earlier
        // one's id or business key) to events-duplicates with its duplicate finding.
        if (published[0]?.topic === TOPICS.unique || published[0]?.topic === TOPICS.duplicates) {
          valid++;
          expect(published.map((m) => m.topic)).toEqual(published[0].topic === TOPICS.unique ? [TOPICS.unique] : [TOPICS.duplicates, TOPICS.findings]);
          expect(published[0]!.data.equals(bytes)).toBe(true);
        } else {
          invalid++;
          expect(published.map((m) => m.topic)).toEqual([TOPICS.invalid, TOPICS.findings]);
          const finding = JSON.parse(published[1]!.data.toString()) as { kind: string; reason?: string };
          expect(finding.kind).toBe('invalid');
          expect(finding.reason?.length).toBeGreaterThan(0);
        }
      }
    } finally {
      await server.close();
    }
    expect(Object.fromEntries(statuses)).toEqual({ 204: SAMPLE });
    expect(valid + invalid).toBe(SAMPLE);
    expect(valid).toBeGreaterThan(0);
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(before);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  }, 300_000);
});
