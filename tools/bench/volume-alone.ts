import { readFileSync } from 'node:fs';
import { VolumeDetector } from '../../shared/volume/detector';

/**
 * The volume detector's own time over a log, without the rest of the replay: the events are
 * parsed first (not timed), then counted and their hours closed as the replay stage does. On a
 * shared machine this isolates the detector's cost from the noise of two whole replays.
 */
export function detectorAlone(file: string, rounds: number): { ms: number; anomalies: number } {
  const events = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const e = JSON.parse(l) as { type: string; time: string };
      return { type: e.type, timeMs: Date.parse(e.time) };
    });
  let best = Number.POSITIVE_INFINITY;
  let anomalies = 0;
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint();
    const detector = new VolumeDetector();
    let watermark = Number.NEGATIVE_INFINITY;
    anomalies = 0;
    for (const e of events) {
      if (e.timeMs > watermark) {
        watermark = e.timeMs;
        if (watermark >= detector.nextCloseAt) anomalies += detector.close(watermark).length;
      }
      detector.count(e.type, e.timeMs);
    }
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e6);
  }
  return { ms: best, anomalies };
}
