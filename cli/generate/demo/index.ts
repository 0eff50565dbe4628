/**
 * The bundled demo stream: a few hundred realistic events across the catalog of DESIGN §2, with
 * faults injected by a list of injectors, each recording the findings it should produce. The
 * local stack publishes it; `--write-demo` writes it as NDJSON for `event-recovery replay`.
 *
 * Deterministic: the same seed and clock give the same bytes. Event times lie in the two hours
 * before the clock (the validator rejects times more than 5 minutes ahead of its wall clock),
 * and every fault sits early enough that the gap-detector's watermark passes its grace period
 * or chain deadline before the stream ends.
 */
import { FAULT_INJECTORS, type FaultInjector } from './faults';
import { DEMO_DEFAULTS, type Demo, type InjectedFault } from './types';
import { injectUpstreamFaults } from './upstream-faults';
import { DemoBuilder, MINUTE, number, produce } from './world';

export { FAULT_INJECTORS, type FaultInjector } from './faults';
export { writeDemoFiles } from './files';
export { Rng } from './rng';
export * from './types';
export { DELIVERY_JITTER_MS, DemoBuilder, GAP_GRACE_MS, RESEND_DELAY_MS, SOURCES } from './world';

export interface DemoOptions {
  /** The clock the stream is built against (epoch ms); event times lie in the span before it. */
  readonly now: number;
  readonly seed?: number;
  readonly spanMinutes?: number;
  /** Replaces the injectors (tests). */
  readonly injectors?: readonly FaultInjector[];
}

/** Builds the demo stream: clean traffic, then the faults of every injector. */
export function buildDemo(options: DemoOptions): Demo {
  const seed = options.seed ?? DEMO_DEFAULTS.seed;
  const spanMs = (options.spanMinutes ?? DEMO_DEFAULTS.spanMinutes) * MINUTE;
  const endMs = Math.floor((options.now - MINUTE) / 1000) * 1000;
  const b = new DemoBuilder(seed, options.now, endMs - spanMs, endMs);
  produce(b);
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
  return { seed, now: options.now, startMs: b.startMs, endMs, messages, faults, world: { ...b.world, rates: { base: 'USD', days } }, upstream, upstreamFaults };
}

