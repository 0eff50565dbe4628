/**
 * The bundled demo stream: a few hundred realistic events across the catalog of DESIGN §2, with
 * faults injected by a list of injectors, each recording the findings it should produce. The
 * local stack publishes it; `--write-demo` writes it as NDJSON for `event-recovery replay`.
 *
 * Deterministic: the same seed and clock give the same bytes. Event times lie in the two hours
 * before the clock (validation rejects times more than 5 minutes ahead of its wall clock),
 * and every fault sits early enough that the gap-detector's watermark passes its grace period
 * or chain deadline before the stream ends.
 */
import { FAULT_INJECTORS, type FaultInjector } from './faults';
import { DEMO_DEFAULTS, type Demo, type DemoWorld, type InjectedFault } from './types';
import { volumeHistory } from './history';
import { injectUpstreamFaults } from './upstream-faults';
import { DEMO_MIX, DemoBuilder, MINUTE, number, produce, type ProduceMix } from './world';

export { FAULT_INJECTORS, stormHour, type FaultInjector } from './faults';
export { HISTORY_DAYS, volumeHistory } from './history';
export { writeDemoFiles } from './files';
export { Rng } from './rng';
export * from './types';
export { DELIVERY_JITTER_MS, DEMO_MIX, DemoBuilder, GAP_GRACE_MS, RESEND_DELAY_MS, SOURCES, type ProduceMix } from './world';

export interface DemoOptions {
  /** The clock the stream is built against (epoch ms); event times lie in the span before it. */
  readonly now: number;
  readonly seed?: number;
  readonly spanMinutes?: number;
  /** Replaces the injectors (tests). */
  readonly injectors?: readonly FaultInjector[];
  /**
   * A load stream (`npm run cost -- --scale K`): `scale` times the demo's traffic over the same
   * span, with one producer (SOURCES.enrichment) sending `hotShare` of all events; the lead flows
   * give way to it, so sales and calls keep the number, and about the share, they have at that scale.
   */
  readonly load?: { readonly scale: number; readonly hotShare: number };
}

/** The mix of a load stream: the demo's, scaled, with the hot producer's events taken from the flows. */
export function loadMix(b: DemoBuilder, scale: number, hotShare: number): ProduceMix {
  const scaled: ProduceMix = {
    flows: Math.round(DEMO_MIX.flows * scale),
    calls: Math.round(DEMO_MIX.calls * scale),
    sales: Math.round(DEMO_MIX.sales * scale),
    discounts: Math.round(DEMO_MIX.discounts * scale),
    hot: 0,
  };
  if (hotShare <= 0) return scaled;
  // A probe of the same seed tells how many events a flow makes and how many the stream has.
  const probe = new DemoBuilder(b.seed, b.now, b.startMs, b.endMs);
  produce(probe, scaled);
  const total = probe.items.length;
  const perFlow = probe.items.filter((i) => i.flow !== undefined).length / Math.max(1, scaled.flows);
  const hot = Math.round(hotShare * total);
  return { ...scaled, flows: Math.max(1, Math.round(scaled.flows - hot / perFlow)), hot };
}

/** Builds the demo stream: clean traffic, then the faults of every injector. */
export function buildDemo(options: DemoOptions): Demo {
  const seed = options.seed ?? DEMO_DEFAULTS.seed;
  const spanMs = (options.spanMinutes ?? DEMO_DEFAULTS.spanMinutes) * MINUTE;
  const endMs = Math.floor((options.now - MINUTE) / 1000) * 1000;
  const b = new DemoBuilder(seed, options.now, endMs - spanMs, endMs);
  const mix = options.load ? loadMix(b, options.load.scale, options.load.hotShare) : DEMO_MIX;
  produce(b, mix);
  const faults: InjectedFault[] = [];
  const run = (stage: FaultInjector['stage']) => {
    for (const injector of options.injectors ?? FAULT_INJECTORS) {
      if (injector.stage !== stage) continue;
      for (const made of injector.inject(b)) {
        faults.push({ injector: injector.name, detectedBy: injector.detectedBy, ...(injector.needs ? { needs: injector.needs } : {}), ...made });
      }
    }
  };
  run('produced');
  number(b);
  run('delivered');
  const { upstream, faults: upstreamFaults } = injectUpstreamFaults(b);
  const order = (options.injectors ?? FAULT_INJECTORS).map((i) => i.name);
  faults.sort((x, y) => order.indexOf(x.injector) - order.indexOf(y.injector));
  const messages = b.items
    .slice()
    .sort((x, y) => x.arrivalMs - y.arrivalMs || x.timeMs - y.timeMs)
    .map((i) => ({ data: i.raw ?? JSON.stringify(i.event), arrivalMs: i.arrivalMs }));
  const days = Object.fromEntries(Object.entries(b.world.rates.days).sort(([x], [y]) => x.localeCompare(y)));
  const world: DemoWorld = { ...b.world, rates: { base: 'USD', days } };
  return { seed, now: options.now, startMs: b.startMs, endMs, messages, faults, world, upstream, upstreamFaults, volumeHistory: volumeHistory(seed, b.startMs, endMs, mix) };
}

