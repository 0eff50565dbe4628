#!/usr/bin/env node
/**
 * `npm run scale -- --events-per-hour N [--json FILE] [--settings deployed|recommended] [--from COST_JSON] [--bigtable-nodes K] [--write-infra]`
 *
 * The scale model (./model.ts) at N events an hour, from the per-event counts of a cost run on the
 * load stream (tools/scale/measured.json, written by `npm run cost -- --scale 4 --json ...`; see
 * the README). Checks the functions as infra/ deploys them by default (`deployed`), or at the
 * model's own recommendation (`recommended`); `--write-infra` writes that recommendation to
 * infra/function-scaling.json, infra/'s per-function defaults. Where the measurement counted
 * Bigtable rows, the nodes they need at N (at the CPU target), or `--bigtable-nodes K` checked, are
 * priced and listed as a limit; a measurement without them (older, or a Firestore run) has none.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Prices } from '../cost/table';
import { COLLECTION_CLASSES } from './collections';
import { readDeployedSettings, SCALING, type ScalingFile } from './deployed';
import { DEFAULT_SCALE, scaleModel, type Measurement, type ScaleResult } from './model';

export { deployedSettings, FunctionScaling, readScaling, SCALING, ScalingFile } from './deployed';

const ROOT = join(__dirname, '..', '..', '..');
export const MEASURED = join(ROOT, 'tools', 'scale', 'measured.json');

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


export function renderScale(r: ScaleResult): string {
  const fmt = (n: number, d = 1) => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(d));
  const rows = Object.entries(r.per_function).map(
    ([name, f]) =>
      `| ${name} | ${fmt(f.invocations_per_s)} | ${(f.request_seconds * 1000).toFixed(0)} / ${(f.cpu_seconds_per_request * 1000).toFixed(1)} | ${f.concurrency} × ${f.cpu} vCPU | ${(f.busy_seconds_per_event * 1000).toFixed(1)} (${f.measured_busy_seconds_per_event === null ? '–' : (f.measured_busy_seconds_per_event * 1000).toFixed(1)}) | $${f.compute_usd_per_million.toFixed(2)} | ${f.instances} (${f.instances_with_headroom}) | ${f.max_instances} | ${f.within_max_instances ? 'yes' : '**no**'} | ${f.recommended.concurrency} × ${f.recommended.cpu} vCPU, max ${f.recommended.max_instances} |`,
  );
  return [
    `At ${r.events_per_hour.toLocaleString('en-US')} events/hour (${fmt(r.events_per_s)}/s), from ${r.measured.events.toLocaleString('en-US')} events counted (busiest producer ${r.measured.busiest_source ? `${r.measured.busiest_source.source} at ${(r.measured.busiest_source.share * 100).toFixed(1)} %` : 'none'}):`,
    '',
    '| function | requests/s | request / CPU ms | concurrency × CPU | busy instance ms/event (cost run) | CPU + memory per million | instances (with headroom) | max_instances | within | recommended |',
    '|---|---:|---:|---|---:|---:|---:|---:|---|---|',
    ...rows,
    '',
    `Firestore: ${fmt(r.firestore_ops_per_s.reads)} reads/s, ${fmt(r.firestore_ops_per_s.writes)} writes/s, ${fmt(r.firestore_ops_per_s.deletes)} deletes/s; busiest document ${r.hottest_document_writes_per_s} writes/s (${r.hottest_document.collection}, ${r.hottest_document.kind}).`,
    bigtableSummary(r),
    `Cost: $${r.per_million_usd.toFixed(2)} per million events, $${r.monthly_usd.toLocaleString('en-US')} a month (730 h).`,
    `Within limits: ${r.within_limits ? 'yes' : 'no'}. First limit: ${r.first_limit ? `${r.first_limit.name} at ${r.first_limit.at_events_per_hour === null ? '-' : Math.round(r.first_limit.at_events_per_hour).toLocaleString('en-US')} events/hour (${r.first_limit.detail})` : 'none'}.`,
    ...r.limits.map((l) => `  - ${l.kind} ${l.name}: ${l.at_events_per_hour === null ? 'not reached by traffic' : `${Math.round(l.at_events_per_hour).toLocaleString('en-US')} events/hour`}; ${l.detail}`),
    '',
  ].join('\n');
}

/** The Bigtable line of the model's output. */
export function bigtableSummary(r: ScaleResult): string {
  const b = r.bigtable;
  if (b === null) return 'Bigtable: no row counted in the measurement (a Firestore run, or one measured before Bigtable was counted): no node priced.';
  const rate = (n: number) => Math.round(n).toLocaleString('en-US');
  return (
    `Bigtable: ${rate(b.rows_per_s.read)} rows/s read, ${rate(b.rows_per_s.written)} written, ${rate(b.rows_per_s.deleted)} deleted ` +
    `(${b.rows_per_event.read.toFixed(2)} / ${b.rows_per_event.written.toFixed(2)} / ${b.rows_per_event.deleted.toFixed(2)} per event): ${(b.node_load * 100).toFixed(1)} % of one SSD node; ` +
    `${b.nodes_needed} node${b.nodes_needed === 1 ? '' : 's'} needed at the ${(b.cpu_target * 100).toFixed(0)} % CPU target, ${b.nodes_checked} checked${b.within_nodes ? '' : ' (**too few**)'}; ` +
    `${b.stored_gib.toFixed(1)} GiB kept; $${b.monthly_usd.toLocaleString('en-US')} a month ($${b.usd_per_million.toFixed(3)} per million events).`
  );
}

function main(): number {
  const { values } = parseArgs({
    options: {
      'events-per-hour': { type: 'string' },
      json: { type: 'string' },
      settings: { type: 'string', default: 'deployed' },
      from: { type: 'string', default: MEASURED },
      headroom: { type: 'string', default: String(DEFAULT_SCALE.headroom) },
      'bigtable-nodes': { type: 'string' },
      'write-infra': { type: 'boolean', default: false },
    },
  });
  const eventsPerHour = Number(values['events-per-hour']);
  if (!(eventsPerHour > 0)) {
    process.stderr.write('usage: npm run scale -- --events-per-hour N [--json FILE] [--settings deployed|recommended] [--from COST_JSON] [--headroom X] [--bigtable-nodes K] [--write-infra]\n');
    return 2;
  }
  const bigtableNodes = values['bigtable-nodes'] === undefined ? undefined : Number(values['bigtable-nodes']);
  if (bigtableNodes !== undefined && !(Number.isInteger(bigtableNodes) && bigtableNodes >= 1)) {
    process.stderr.write(`scale: --bigtable-nodes is a whole number of nodes, at least 1, not ${values['bigtable-nodes']}\n`);
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
      ? readDeployedSettings(prices)
      : undefined;
  const result = scaleModel(measured, COLLECTION_CLASSES, prices, { eventsPerHour, headroom: Number(values.headroom), cpuUtilization: DEFAULT_SCALE.cpuUtilization, ...(settings ? { settings } : {}), ...(bigtableNodes !== undefined ? { bigtableNodes } : {}) });
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
