import { buildDemo, DELIVERY_JITTER_MS, GAP_GRACE_MS, type DemoEvent } from '../../cli/generate/demo';
import { DEFAULT_OPTIONS, sliceWidth } from '../../tools/local/stack';

/**
 * The stack publishes the demo in slices with a few in flight. What makes its findings
 * deterministic: the events in flight never span the gap grace period, and every re-sent copy
 * is published only once its original went through.
 */
describe.each([1, 2, 3, DEFAULT_OPTIONS.slicesInFlight])('publishing the demo with %i slices in flight', (inFlight) => {
  const width = sliceWidth(inFlight);
  const slice = (arrivalMs: number, startMs: number) => Math.floor((arrivalMs - startMs) / width);

  it('keeps the events in flight within the grace period, an event on time arriving late by at most the jitter', () => {
    expect(inFlight * width + DELIVERY_JITTER_MS).toBeLessThanOrEqual(GAP_GRACE_MS);
  });

  it.each([20260301, 1, 42])('puts every duplicate at least that many slices after its original (seed %i)', (seed) => {
    const demo = buildDemo({ now: Date.parse('2026-03-01T12:00:00Z'), seed });
    const arrivals = new Map<string, number[]>();
    for (const m of demo.messages) {
      try {
        const id = (JSON.parse(m.data) as DemoEvent).id;
        arrivals.set(id, [...(arrivals.get(id) ?? []), m.arrivalMs]);
      } catch {
        /* the bad-JSON fault */
      }
    }
    const duplicates = demo.faults.flatMap((f) => f.expect).filter((e) => e.match.kind === 'duplicate');
    expect(duplicates.length).toBeGreaterThan(0);
    for (const { match } of duplicates) {
      const [original] = arrivals.get(match.duplicate_of!)!;
      const copy = arrivals.get(match.event_id!)!.at(-1)!;
      expect(slice(copy, demo.startMs) - slice(original!, demo.startMs)).toBeGreaterThanOrEqual(inFlight);
    }
  });
});
