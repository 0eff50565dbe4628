#!/usr/bin/env node
/**
 * `npm run scale -- --events-per-hour N [--json FILE] [--settings deployed|recommended] [--from COST_JSON]`
 *
 * The scale model (./model.ts) at N events an hour, from the per-event counts of a cost run on the
 * load stream (tools/scale/measured.json, written by `npm run cost -- --scale 4 --json ...`; see
 * the README). Checks the functions as infra/ deploys them by default (`deployed`), or at the
 * model's own recommendation (`recommended`).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { topology } from '../../shared/topology';
import { deployedMemoryMiB } from '../cost/run';
import { Prices, vcpuFor } from '../cost/table';
import { COLLECTION_CLASSES } from './collections';
import { DEFAULT_SCALE, scaleModel, type FunctionSettings, type Measurement, type ScaleResult } from './model';

const ROOT = join(__dirname, '..', '..', '..');
export const MEASURED = join(ROOT, 'tools', 'scale', 'measured.json');

/** What infra/ deploys every function with when function_settings says nothing: max instances, concurrency, memory (and so CPU). */
export function deployedSettings(mainTf: string, variablesTf: string, prices: Prices): FunctionSettings {
  const max = /variable\s+"max_instances"\s*\{[^}]*?default\s*=\s*(\d+)/.exec(variablesTf);
  if (!max) throw new Error('infra/variables.tf: the default of max_instances was not found');
  const concurrency = /concurrency\s*=\s*coalesce\(try\(var\.function_settings\[each\.key\]\.concurrency, null\), (\d+)\)/.exec(mainTf);
  if (!concurrency) throw new Error('infra/main.tf: the default concurrency was not found');
  const memoryMiB = deployedMemoryMiB(mainTf);
  return { maxInstances: Number(max[1]), concurrency: Number(concurrency[1]), cpu: vcpuFor(memoryMiB, prices), memoryMiB };
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
    },
  });
  const eventsPerHour = Number(values['events-per-hour']);
  if (!(eventsPerHour > 0)) {
    process.stderr.write('usage: npm run scale -- --events-per-hour N [--json FILE] [--settings deployed|recommended] [--from COST_JSON] [--headroom X]\n');
    return 2;
  }
  if (values.settings !== 'deployed' && values.settings !== 'recommended') {
    process.stderr.write(`scale: --settings is deployed or recommended, not ${values.settings}\n`);
    return 2;
  }
  const prices = Prices.parse(JSON.parse(readFileSync(join(ROOT, 'tools', 'cost', 'prices.json'), 'utf8')));
  const measured = JSON.parse(readFileSync(values.from, 'utf8')) as Measurement;
  const deployed = deployedSettings(readFileSync(join(ROOT, 'infra', 'main.tf'), 'utf8'), readFileSync(join(ROOT, 'infra', 'variables.tf'), 'utf8'), prices);
  const settings = values.settings === 'deployed' ? Object.fromEntries(topology.functions.map((f) => [f.name, deployed])) : undefined;
  const result = scaleModel(measured, COLLECTION_CLASSES, prices, { eventsPerHour, headroom: Number(values.headroom), cpuUtilization: DEFAULT_SCALE.cpuUtilization, ...(settings ? { settings } : {}) });
  process.stdout.write(`${renderScale(result)}\n`);
  if (values.json) writeFileSync(values.json, `${JSON.stringify({ settings: values.settings, ...result }, null, 2)}\n`);
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
