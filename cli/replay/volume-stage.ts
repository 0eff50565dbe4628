import { DEFAULT_VOLUME_CONFIG, VolumeDetector, type VolumeConfig } from '../../shared/volume/detector';
import type { ReplayStage, StageOutput } from './stage';

/**
 * Volume anomalies in replay (DESIGN §3): every accepted event is counted into its hour (a map
 * increment); when the watermark closes hours, each is judged once, for every series, and the
 * anomalies become findings. At the end of input the hours the final watermark closed are
 * judged; the hour still open is not.
 */
export function volumeStage(config: VolumeConfig = DEFAULT_VOLUME_CONFIG): ReplayStage {
  const detector = new VolumeDetector(config);
  const close = (watermarkMs: number, out: StageOutput) => {
    if (watermarkMs < detector.nextCloseAt) return;
    for (const f of detector.close(watermarkMs)) out.finding(f);
  };
  return {
    name: 'volume',
    onWatermark: close,
    onAccepted(e) {
      if (e.type !== 'sale.recorded') return detector.count(e.type, e.timeMs, undefined);
      const sale = e.event;
      detector.count(e.type, e.timeMs, sale.type === 'sale.recorded' ? sale.data.amount_usd : undefined);
    },
    end(watermarkMs, out) {
      close(watermarkMs, out);
      return 0;
    },
    sections: () => ({ volume: detector.summary() }),
  };
}
