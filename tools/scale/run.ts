#!/usr/bin/env node
/**
 * `npm run scale -- --events-per-hour N [--json FILE] [--settings deployed|recommended] [--from COST_JSON] [--write-infra]`
 *
 * The scale model (./model.ts) at N events an hour, from the per-event counts of a cost run on the
 * load stream (tools/scale/measured.json, written by `npm run cost -- --scale 4 --json ...`; see
 * the README). Checks the functions as infra/ deploys them by default (`deployed`), or at the
 * model's own recommendation (`recommended`); `--write-infra` writes that recommendation to
 * infra/function-scaling.json, infra/'s per-function defaults.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { topology } from '../../shared/topology';
import { deployedMemoryMiB } from '../cost/run';
import { Prices, vcpuFor } from '../cost/table';
import { COLLECTION_CLASSES } from './collections';
import { CLOUD_RUN_MAX_CONCURRENCY, DEFAULT_SCALE, scaleModel, type FunctionSettings, type Measurement, type ScaleResult } from './model';

const ROOT = join(__dirname, '..', '..', '..');
export const MEASURED = join(ROOT, 'tools', 'scale', 'measured.json');

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

/** infra/function-scaling.json from the model's recommendation (what `--write-infra` writes). */
export function scalingFile(result: ScaleResult, headroom: number): ScalingFile {
  return {
    $comment:
      'Written by `npm run scale -- --events-per-hour N --settings recommended --write-infra` (tools/scale/run.ts) from tools/scale/measured.json; read by infra/scaling.tf as each function\'s default max_instances, concurrency and available_cpu (function_settings override them). test/unit/infra-scaling.test.ts holds it to the model. Do not edit by hand: measure again and write it again.',
    events_per_hour: result.events_per_hour,
    headroom,
    measured: { events: result.measured.events, processing_seconds: result.measured.processing_seconds },
    functions: Object.fromEntries(
      Object.entries(result.per_function).map(([name, f]) => [name, { max_instances: f.recommended.max_instances, concurrency: f.recommended.concurrency, available_cpu: String(f.recommended.cpu) }]),
    ),
  };
}

export function readScaling(path = SCALING): ScalingFile {
  return ScalingFile.parse(JSON.parse(readFileSync(path, 'utf8')));
}

export function renderScale(r: ScaleResult): string {
  const fmt = (n: number, d = 1) => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(d));
  const rows = Object.entries(r.per_function).map(
    ([name, f]) =>
      `| ${name} | ${fmt(f.invocations_per_s)} | ${(f.request_seconds * 1000).toFixed(0)} / ${(f.cpu_seconds_per_request * 1000).toFixed(1)} | ${f.concurrency} × ${f.cpu} vCPU | ${f.instances} (${f.instances_with_headroom}) | ${f.max_instances} | ${f.within_max_instances ? 'yes' : '**no**'} | ${f.recommended.concurrency} × ${f.recommended.cpu} vCPU, max ${f.recommended.max_instances} |`,
  );
  return [
    `At ${r.events_per_hour.toLocaleString('en-US')} events/hour (${fmt(r.events_per_s)}/s), from ${r.measured.events.toLocaleString('en-US')} events counted (busiest producer ${r.measured.busiest_source ? `${r.measured.busiest_source.source} at ${(r.measured.busiest_source.share * 100).toFixed(1)} %` : 'none'}):`,
    '',
    '| function | requests/s | request / CPU ms | concurrency × CPU | instances (with headroom) | max_instances | within | recommended |',
    '|---|---:|---:|---|---:|---:|---|---|',
    ...rows,
    '',
    `Firestore: ${fmt(r.firestore_ops_per_s.reads)} reads/s, ${fmt(r.firestore_ops_per_s.writes)} writes/s, ${fmt(r.firestore_ops_per_s.deletes)} deletes/s; busiest document ${r.hottest_document_writes_per_s} writes/s (${r.hottest_document.collection}, ${r.hottest_document.kind}).`,
    `Cost: $${r.per_million_usd.toFixed(2)} per million events, $${r.monthly_usd.toLocaleString('en-US')} a month (730 h).`,
    `Within limits: ${r.within_limits ? 'yes' : 'no'}. First limit: ${r.first_limit ? `${r.first_limit.name} at ${r.first_limit.at_events_per_hour === null ? '-' : Math.round(r.first_limit.at_events_per_hour).toLocaleString('en-US')} events/hour (${r.first_limit.detail})` : 'none'}.`,
    ...r.limits.map((l) => `  - ${l.kind} ${l.name}: ${l.at_events_per_hour === null ? 'not reached by traffic' : `${Math.round(l.at_events_per_hour).toLocaleString('en-US')} events/hour`}; ${l.detail}`),
    '',
  ].join('\n');
}

function main(): number {
  const { values } = parseArgs({
    options: {
      'events-per-hour': { type: 'string' },
      json: { type: 'string' },
      settings: { type: 'string', default: 'deployed' },
      from: { type: 'string', default: MEASURED },
      headroom: { type: 'string', default: String(DEFAULT_SCALE.headroom) },
      'write-infra': { type: 'boolean', default: false },
    },
  });
  const eventsPerHour = Number(values['events-per-hour']);
  if (!(eventsPerHour > 0)) {
    process.stderr.write('usage: npm run scale -- --events-per-hour N [--json FILE] [--settings deployed|recommended] [--from COST_JSON] [--headroom X] [--write-infra]\n');
    return 2;
  }
  if (values.settings !== 'deployed' && values.settings !== 'recommended') {
    process.stderr.write(`scale: --settings is deployed or recommended, not ${values.settings}\n`);
    return 2;
  }
  const prices = Prices.parse(JSON.parse(readFileSync(join(ROOT, 'tools', 'cost', 'prices.json'), 'utf8')));
  const measured = JSON.parse(readFileSync(values.from, 'utf8')) as Measurement;
  if (values['write-infra'] && values.settings !== 'recommended') {
    process.stderr.write('scale: --write-infra writes the recommendation: use it with --settings recommended\n');
    return 2;
  }
  const settings =
    values.settings === 'deployed'
      ? deployedSettings(readFileSync(join(ROOT, 'infra', 'main.tf'), 'utf8'), readFileSync(join(ROOT, 'infra', 'variables.tf'), 'utf8'), readScaling(), prices)
      : undefined;
  const result = scaleModel(measured, COLLECTION_CLASSES, prices, { eventsPerHour, headroom: Number(values.headroom), cpuUtilization: DEFAULT_SCALE.cpuUtilization, ...(settings ? { settings } : {}) });
  process.stdout.write(`${renderScale(result)}\n`);
  if (values.json) writeFileSync(values.json, `${JSON.stringify({ settings: values.settings, ...result }, null, 2)}\n`);
  if (values['write-infra']) {
    writeFileSync(SCALING, `${JSON.stringify(scalingFile(result, Number(values.headroom)), null, 2)}\n`);
    process.stdout.write(`wrote ${SCALING}\n`);
  }
  return 0;
}

if (require.main === module) {
  try {
    process.exit(main());
  } catch (err) {
    process.stderr.write(`scale: ${(err as Error).message}\n`);
    process.exit(1);
  }
}
