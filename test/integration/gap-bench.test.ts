import { runGapBench } from '../../tools/bench/gap-detector';
import { MARKER_STORES } from '../support/gap-markers';

/**
 * `npm run bench`'s gap-detector part prints events/s and Firestore operations per event; they
 * are figures of work done only if the events reached the rules. It checks that itself (gaps
 * reported against ranges dropped, chains broken against flows cut short) and printed MISMATCH
 * for months unseen: its busy source went to a topic gap-detector no longer tracks numbers from
 * (0 writes an event), and its closing tick came before any deadline under event-time watermarks.
 * With the markers in Bigtable, each number is a row written (and deleted), not a document.
 */
describe.each(MARKER_STORES)('the gap-detector bench, sequence markers in %s', (markers) => {
  it('measures events that reach the rules: every dropped range and every cut-short flow is reported, no more', async () => {
    const r = await runGapBench({ events: 3000, flows: 150, concurrency: 16, instances: 2, markers });
    const { sequences: s } = r;
    expect(s.expected).toBeGreaterThan(0);
    const markerWrites = markers === 'firestore' ? s.writes : s.rows.writes;
    expect(markerWrites / s.events).toBeGreaterThan(0.5);
    expect(s.reported).toBe(s.expected);
    expect(r.chains!.expected).toBeGreaterThan(0);
    expect(r.chains!.reported).toBe(r.chains!.expected);
    if (markers === 'bigtable') {
      // The markers left Firestore: what is left there per event is the summaries, the watermark and the outbox.
      expect(s.rows.deletes).toBeGreaterThanOrEqual(s.rows.writes);
      expect(s.deletes / s.events).toBeLessThan(0.1);
    } else {
      expect(s.rows).toEqual({ reads: 0, writes: 0, deletes: 0 });
    }
    process.stdout.write(`\n${r.lines.join('\n')}\n`);
    expect(r.lines.join('\n')).not.toContain('MISMATCH');
  }, 240_000);
});
