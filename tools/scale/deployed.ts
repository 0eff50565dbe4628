/**
 * How infra/ deploys each function (memory, vCPU, concurrency, max_instances) when
 * function_settings says nothing: read from infra/main.tf, infra/variables.tf and
 * infra/function-scaling.json. `npm run cost` prices each function's instance time at these, and
 * `npm run scale` checks a rate against them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { topology } from '../../shared/topology';
import { vcpuFor, type Prices } from '../cost/table';
import { CLOUD_RUN_MAX_CONCURRENCY, type FunctionSettings } from './model';

const ROOT = join(__dirname, '..', '..', '..');

/** The memory infra/ deploys every function with (its default; nothing in the repo overrides it). */
export function deployedMemoryMiB(mainTf: string): number {
  const m = /memory\s*=\s*coalesce\(try\(var\.function_settings\[each\.key\]\.memory, null\), "(\d+)Mi"\)/.exec(mainTf);
  if (!m) throw new Error('infra/main.tf: the default function memory ("NNNMi") was not found');
  return Number(m[1]);
}

/**
 * infra/function-scaling.json: each function's `max_instances`, `concurrency` and `available_cpu`
 * as infra/ deploys them by default, written from the model at 2M events/hour with its headroom
 * (`npm run scale -- --events-per-hour 2000000 --settings recommended --write-infra`); a
 * function's `function_settings` override them one by one.
 */
export const SCALING = join(ROOT, 'infra', 'function-scaling.json');

export const FunctionScaling = z.object({
  max_instances: z.int().positive(),
  concurrency: z.int().positive().max(CLOUD_RUN_MAX_CONCURRENCY),
  available_cpu: z.string().regex(/^(0\.[0-9]+|[1-9][0-9]*)$/),
});
export const ScalingFile = z.object({
  $comment: z.string(),
  events_per_hour: z.number().positive(),
  headroom: z.number().positive(),
  measured: z.object({ events: z.number(), processing_seconds: z.number() }),
  functions: z.record(z.string(), FunctionScaling),
});
export type ScalingFile = z.infer<typeof ScalingFile>;

/**
 * What infra/ deploys each function with when function_settings says nothing: its entry of
 * infra/function-scaling.json where it has one (through local.function_scaling of
 * infra/scaling.tf, which main.tf must use, as checked here), else `max_instances`' default,
 * concurrency 1 and the memory's vCPU. Concurrency above 1 applies only with 1 vCPU or more, as
 * scaling.tf does (below 1 vCPU Cloud Run allows 1).
 */
export function deployedSettings(mainTf: string, variablesTf: string, scaling: ScalingFile, prices: Prices): Record<string, FunctionSettings> {
  const max = /variable\s+"max_instances"\s*\{[^}]*?default\s*=\s*(\d+)/.exec(variablesTf);
  if (!max) throw new Error('infra/variables.tf: the default of max_instances was not found');
  for (const [what, pattern] of [
    ['max_instances', /max_instances\s*=\s*try\(local\.function_scaling\[each\.key\]\.max_instances, var\.max_instances\)/],
    ['available_cpu', /available_cpu\s*=\s*try\(local\.function_scaling\[each\.key\]\.available_cpu, null\)/],
    ['concurrency', /concurrency\s*=\s*try\(local\.function_scaling\[each\.key\]\.concurrency, 1\)/],
  ] as const) {
    if (!pattern.test(mainTf)) throw new Error(`infra/main.tf: the functions' ${what} does not come from local.function_scaling (infra/scaling.tf)`);
  }
  const memoryMiB = deployedMemoryMiB(mainTf);
  return Object.fromEntries(
    topology.functions.map((f) => {
      const s = scaling.functions[f.name];
      const cpu = s ? Number(s.available_cpu) : vcpuFor(memoryMiB, prices);
      return [f.name, { maxInstances: s?.max_instances ?? Number(max[1]), concurrency: s && cpu >= 1 ? s.concurrency : 1, cpu, memoryMiB }];
    }),
  );
}

export function readScaling(path = SCALING): ScalingFile {
  return ScalingFile.parse(JSON.parse(readFileSync(path, 'utf8')));
}

/** {@link deployedSettings} of this checkout's infra/. */
export function readDeployedSettings(prices: Prices): Record<string, FunctionSettings> {
  return deployedSettings(readFileSync(join(ROOT, 'infra', 'main.tf'), 'utf8'), readFileSync(join(ROOT, 'infra', 'variables.tf'), 'utf8'), readScaling(), prices);
}
