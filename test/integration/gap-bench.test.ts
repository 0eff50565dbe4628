import { runGapBench } from '../../tools/bench/gap-detector';

/**
 * `npm run bench`'s gap-detector part prints events/s and Firestore operations per event; they
 * are figures of work done only if the events reached the rules. It checks that itself (gaps
 * reported against ranges dropped, chains broken against flows cut short) and printed MISMATCH
 * for months unseen: its busy source went to a topic gap-detector no longer tracks numbers from
 * (0 writes an event), and its closing tick came before any deadline under event-time watermarks.
 */
describe('the gap-detector bench', () => {
  it('measures events that reach the rules: every dropped range and every cut-short flow is reported, no more', async () => {
    const r = await runGapBench({ events: 6000, flows: 150, concurrency: 16, instances: 2 });
    expect(r.sequences.expected).toBeGreaterThan(0);
    expect(r.sequences.writes / r.sequences.events).toBeGreaterThan(0.5);
    expect(r.sequences.reported).toBe(r.sequences.expected);
    expect(r.chains!.expected).toBeGreaterThan(0);
    expect(r.chains!.reported).toBe(r.chains!.expected);
    expect(r.lines.join('\n')).not.toContain('MISMATCH');
  }, 240_000);
});
