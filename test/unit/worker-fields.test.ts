import { PassThrough } from 'node:stream';
import { chainRoles } from '../../functions/gap-detector/core';
import { generateLog } from '../../cli/generate/log';
import { readLineBatches, type LineBatch } from '../../cli/replay/lines';
import { compactBatch, DIGEST_WORDS_PER_EVENT, prepareLine, preparedAt, SourceTable } from '../../cli/replay/prepare';
import { fuzzChunks } from '../../tools/fuzz/hostile';
import * as fx from '../support/events';

/**
 * What a worker sends of each valid event (cli/replay/prepare.ts `compactBatch`) is what the
 * main thread's rules read instead of decoding the event: each field must be the decoded event's,
 * and the event decoded on first use the one the single-threaded path validates.
 */
const ctx = { now: Date.parse('2026-12-01T00:00:00Z'), config: { maxFutureMs: 5 * 60_000 } };

/** The input's lines in batches of at most `size`, as the main thread hands them to a worker. */
async function batchesOf(chunks: AsyncIterable<Buffer> | Iterable<Buffer>, size: number): Promise<LineBatch[]> {
  const out: LineBatch[] = [];
  const stream = async function* () {
    yield* chunks;
  };
  for await (const batch of readLineBatches(stream(), undefined, size)) out.push(batch);
  return out;
}

async function generated(events: number, size: number): Promise<LineBatch[]> {
  const stream = new PassThrough();
  const batches = batchesOf(stream, size);
  await generateLog(stream, events, 7);
  stream.end();
  return batches;
}

/** Every line through batches as a worker prepares them, against `prepareLine`. */
function compare(batches: readonly LineBatch[]): number {
  const table = new SourceTable();
  const sources: string[] = [];
  let valid = 0;
  for (const batch of batches) {
    const result = compactBatch(batch, ctx, table);
    sources.push(...result.newSources);
    for (let i = 0; i < batch.length; i++) {
      const digests = new Uint32Array(DIGEST_WORDS_PER_EVENT);
      const single = prepareLine(batch, i, ctx, digests, 0);
      const split = preparedAt(batch, result, i, sources);
      expect(split.valid).toBe(single.valid);
      if (!single.valid || !split.valid) continue;
      valid++;
      const full = single.e.event;
      const e = split.e;
      expect([e.id, e.type, e.source, e.sequence, e.timeMs, e.line, split.mask]).toEqual([full.id, full.type, full.source, full.sequence, single.e.timeMs, single.e.line, single.mask]);
      expect(e.durationSeconds).toBe(full.type === 'call.completed' ? full.data.duration_seconds : undefined);
      expect(e.durationSeconds).toBe(single.e.durationSeconds);
      expect([...result.digests.subarray(i * DIGEST_WORDS_PER_EVENT, (i + 1) * DIGEST_WORDS_PER_EVENT)]).toEqual([...digests]);
      // The chain rules answer alike from the fields as from the event (before it is decoded).
      expect(chainRoles(e.chain)).toEqual(chainRoles(full));
      // Decoded on first use: the validated event, key order and all.
      expect(JSON.stringify(e.event)).toBe(JSON.stringify(full));
      expect(e.chain).toBe(e.event);
    }
  }
  return valid;
}

describe('the fields a replay worker sends of each event', () => {
  it('are those of the decoded event, on a generated log (sources numbered once per worker, across batches)', async () => {
    expect(compare(await generated(5_000, 97))).toBeGreaterThan(4_800);
  });

  it('are those of the decoded event on the fuzz corpus: escapes, lone surrogates, unknown keys, ids with every kind of character', async () => {
    expect(compare(await batchesOf(fuzzChunks(13, { lines: 4_000, probeEvery: 97, oversized: 1 }, []), 256))).toBeGreaterThan(500);
  });

  it('keep an absent sequence, card_id or lead_id absent, and ids with escapes and astral characters whole', async () => {
    const events = [
      fx.cardScanned({ id: 'a', sequence: undefined, data: { card_id: 'k\u00e9\u{1F600}' } }),
      fx.leadCreated({ id: '\\"quoted\\"', data: { lead_id: 'l1', card_id: undefined } }),
      fx.leadCreated({ id: 'b', data: { lead_id: 'l2', card_id: 'k2' } }),
      fx.crmSynced({ id: 'c', data: { lead_id: 'l2' } }),
      fx.discountIssued({ id: 'd', data: { card_id: 'not a chain field here' } }),
    ];
    expect(compare(await batchesOf([Buffer.from(`${events.map((e) => JSON.stringify(e)).join('\n')}\n`)], 2))).toBe(events.length);
  });
});
