import { MemoryPublisher } from '../../shared/adapters/memory-publisher';
import { silentLogger } from '../../shared/log';
import { TOPICS } from '../../shared/topology';
import { DEFAULT_GAP_DETECTOR_CONFIG, gapDetectorHandler } from '../../functions/gap-detector/handler';
import { MemoryGapStore } from '../../functions/gap-detector/memory-store';
import { GAP_STREAM_T0 as T0, gapStream as stream } from '../support/gap-stream';
import { pushedEvent } from '../support/push';
import { replayText } from '../support/replay';

const MIN = 60_000;

const sorted = (findings: readonly object[]) => findings.map((f) => JSON.stringify(f)).sort();

describe('gap-detector: replay and the function decide alike', () => {
  it.each([1, 2, 3])('the same log (seed %i) through replay and through the function (memory store, fixed clock) gives the same findings', async (seed) => {
    const events = stream(seed);
    const text = events.map((e) => JSON.stringify(e)).join('\n') + '\n';
    const replay = await replayText(text, { now: T0 + 24 * 60 * MIN });
    const duplicate = new Set(replay.findings.filter((f) => f.kind === 'duplicate').map((f) => f.line as number));
    expect(replay.findings.filter((f) => f.kind === 'invalid')).toEqual([]);

    // The function: every accepted event through events-unique, every dropped duplicate through
    // events-duplicates (as the deduplicator hands them on), then one tick whose watermark is the replay's final one.
    const finalWatermark = Date.parse(replay.summary.watermark!);
    const clock = { now: () => finalWatermark + DEFAULT_GAP_DETECTOR_CONFIG.state.allowedLatenessMs };
    const publisher = new MemoryPublisher();
    const handler = gapDetectorHandler({
      publisher,
      store: new MemoryGapStore(),
      clock,
      config: { ...DEFAULT_GAP_DETECTOR_CONFIG, foldIntervalMs: 0, watermarkStepMs: 0 },
      logger: silentLogger,
      instanceId: 'parity',
    });
    for (const [i, text] of events.map((e) => JSON.stringify(e)).entries()) {
      const line = i + 1;
      await handler(duplicate.has(line) ? pushedEvent(TOPICS.duplicates, text, `d-${line}`) : pushedEvent(TOPICS.unique, text, `u-${line}`));
    }
    await handler(pushedEvent(TOPICS.ticks, '{}', 'tick'));

    const gapKinds = new Set(['gap', 'late', 'chain_broken']);
    const fromReplay = replay.findings.filter((f) => gapKinds.has(f.kind as string)).map(({ line: _, ...f }) => f);
    const fromFunction = publisher.json(TOPICS.findings) as object[];
    expect(sorted(fromFunction)).toEqual(sorted(fromReplay));
    // Not a vacuous match: the log exercises every kind, and the pending counts agree in spirit.
    const count = (kind: string, closes?: string) => fromReplay.filter((f) => f.kind === kind && (closes === undefined || f.closes === closes)).length;
    expect(count('gap')).toBeGreaterThan(3);
    expect(count('late', 'gap')).toBeGreaterThan(3);
    expect(count('late', 'chain_broken')).toBeGreaterThan(3);
    expect(count('chain_broken')).toBeGreaterThan(5);
  });
});
