import { ConfigError } from './errors';

/**
 * Test-only crash points at the effect boundaries of the handlers (the fault-injection suite,
 * test/faults). `FAULT_INJECT=after-state-write:5` makes the process kill itself with SIGKILL (no
 * cleanup, no answer: as an instance that crashes) at the 5th pass of that boundary. Entries are
 * separated by commas and may name the function and the instance they apply to
 * (`gap-detector#2:after-publish:3`: the second instance the local stack starts, after the first
 * died); without an instance an entry applies to the first, so the instance started after it
 * runs clean. The composition root arms it once from the environment; unarmed (always, in GCP)
 * a pass is a comparison.
 */
export const BOUNDARIES = [
  /** A state write is done (a claim, a decision, an outbox), its publish not yet. */
  'after-state-write',
  /**
   * One key of a claim is written pending, the claim is not decided yet: a store that is atomic
   * per key only (the deduplicator's Bigtable store) claims an event's keys one by one.
   */
  'mid-claim',
  /** Everything a message causes is published; the message is not acked yet (nor marked done). */
  'after-publish',
  /** One publish of several has gone out, others are still in flight. */
  'mid-batch',
] as const;
export type Boundary = (typeof BOUNDARIES)[number];

export interface FaultSpec {
  readonly boundary: Boundary;
  /** The pass that crashes, from 1. */
  readonly at: number;
}

/**
 * The entries of FAULT_INJECT that apply to instance `instance` (from 1) of `functionName`;
 * entries without a function apply to every function.
 */
export function parseFaultInject(text: string | undefined, functionName: string | undefined, instance = 1): FaultSpec[] {
  if (text === undefined || text.trim() === '') return [];
  return text.split(',').flatMap((entry) => {
    const parts = entry.trim().split(':');
    const [target, boundary, at] = parts.length === 3 ? parts : [undefined, ...parts];
    const [fn, nth] = target === undefined ? [undefined, '1'] : target.split('#');
    const n = Number(at);
    const k = Number(nth ?? '1');
    if (!BOUNDARIES.includes(boundary as Boundary) || !Number.isInteger(n) || n < 1 || !Number.isInteger(k) || k < 1) {
      throw new ConfigError(`FAULT_INJECT: "${entry}" is not [function[#instance]:]boundary:pass with a boundary of ${BOUNDARIES.join(', ')}, an instance and a pass from 1`);
    }
    return (fn === undefined || fn === functionName) && k === instance ? [{ boundary: boundary as Boundary, at: n }] : [];
  });
}

const armed = new Map<Boundary, { at: number; passes: number }>();

/** Arms the crash points of this process (the composition root calls it once); `instance` as the local stack numbers them (LOCAL_INSTANCE). */
export function armFaults(text: string | undefined, functionName: string | undefined, instance: string | undefined): void {
  armed.clear();
  for (const spec of parseFaultInject(text, functionName, Number(instance ?? '1'))) armed.set(spec.boundary, { at: spec.at, passes: 0 });
}

/** A pass of `boundary`: kills the process when it is the armed pass. */
export function faultPoint(boundary: Boundary): void {
  const point = armed.get(boundary);
  if (point === undefined) return;
  point.passes++;
  if (point.passes === point.at) {
    process.stderr.write(`FAULT_INJECT: killing this process at pass ${point.at} of ${boundary}\n`);
    process.kill(process.pid, 'SIGKILL');
  }
}
