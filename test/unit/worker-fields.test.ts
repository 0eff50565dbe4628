import { PassThrough } from 'node:stream';
import { chainRoles } from '../../functions/gap-detector/core';
import { generateLog } from '../../cli/generate/log';
import { readLines, type Line } from '../../cli/replay/lines';
import { compactBatch, DIGEST_WORDS_PER_EVENT, prepareLine, preparedAt, SourceTable } from '../../cli/replay/prepare';
import { fuzzChunks } from '../../tools/fuzz/hostile';
import * as fx from '../support/events';

/**
 * What a worker sends of each valid event (cli/replay/prepare.ts `compactBatch`) is what the
 * main thread's rules read instead of decoding the event: each field must be the decoded event's,
 * and the event decoded on first use the one the single-threaded path validates.
 */
const ctx = { now: Date.parse('2026-12-01T00:00:00Z'), config: { maxFutureMs: 5 * 60_000 } };

async function linesOf(chunks: AsyncIterable<Buffer> | Iterable<Buffer>): Promise<Line[]> {
  const out: Line[] = [];
  const stream = async function* () {
    yield* chunks;
  };
  for await (const batch of readLines(stream())) out.push(...batch);
  return out;
}

async function generated(events: number): Promise<Line[]> {
  const stream = new PassThrough();
  const lines = linesOf(stream);
  await generateLog(stream, events, 7);
  stream.end();
  return lines;
}

/** Every line through batches of `size` as a worker prepares them, against `prepareLine`. */
function compare(lines: readonly Line[], size: number): number {
  const table = new SourceTable();
  const sources: string[] = [];
  let valid = 0;
  for (let from = 0; from < lines.length; from += size) {
    const batch = lines.slice(from, from + size);
    const result = compactBatch(batch, ctx, table);
    sources.push(...result.newSources);
    for (let i = 0; i < batch.length; i++) {
      const digests = new Uint32Array(DIGEST_WORDS_PER_EVENT);
      const single = prepareLine(batch[i]!, ctx, digests, 0);
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
    const lines = await generated(5_000);
    expect(compare(lines, 97)).toBeGreaterThan(4_800);
  });

  it('are those of the decoded event on the fuzz corpus: escapes, lone surrogates, unknown keys, ids with every kind of character', async () => {
    const lines = await linesOf(fuzzChunks(13, { lines: 4_000, probeEvery: 97, oversized: 1 }, []));
    expect(compare(lines, 256)).toBeGreaterThan(500);
  });

  it('keep an absent sequence, card_id or lead_id absent, and ids with escapes and astral characters whole', async () => {
    const events = [
      fx.cardScanned({ id: 'a', sequence: undefined, data: { card_id: 'k\u00e9\u{1F600}' } }),
      fx.leadCreated({ id: '\\"quoted\\"', data: { lead_id: 'l1', card_id: undefined } }),
      fx.leadCreated({ id: 'b', data: { lead_id: 'l2', card_id: 'k2' } }),
      fx.crmSynced({ id: 'c', data: { lead_id: 'l2' } }),
      fx.discountIssued({ id: 'd', data: { card_id: 'not a chain field here' } }),
    ];
    const lines = await linesOf([Buffer.from(`${events.map((e) => JSON.stringify(e)).join('\n')}\n`)]);
    expect(compare(lines, 2)).toBe(events.length);
  });
});
