/**
 * infra/'s per-function defaults (max_instances, concurrency, available_cpu) and the scale model
 * held together (issue 21, DESIGN §6b: "Terraform's defaults come from that model"):
 * infra/function-scaling.json must be the model's recommendation at 2M events/hour from the
 * measurement in tools/scale/measured.json, main.tf must deploy with it (through
 * infra/scaling.tf, evaluated here by real Terraform, offline: it has no resource), and as
 * deployed every function must then fit its instances at 2M/h with the headroom. Measuring again
 * (`npm run cost -- --scale 1 --json tools/scale/measured.json`) without writing the defaults
 * again (`npm run scale -- --events-per-hour 2000000 --settings recommended --write-infra`) fails
 * here.
 */
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { topology } from '../../shared/topology';
import { Prices } from '../../tools/cost/table';
import { COLLECTION_CLASSES } from '../../tools/scale/collections';
import { DEFAULT_SCALE, scaleModel, type FunctionSettings, type Measurement } from '../../tools/scale/model';
import { deployedSettings, readScaling, scalingFile } from '../../tools/scale/run';
import { INFRA, ROOT, terraform } from '../support/infra';

const prices = Prices.parse(JSON.parse(readFileSync(join(ROOT, 'tools/cost/prices.json'), 'utf8')));
const measured = JSON.parse(readFileSync(join(ROOT, 'tools/scale/measured.json'), 'utf8')) as Measurement;
const scaling = readScaling(join(INFRA, 'function-scaling.json'));
const mainTf = readFileSync(join(INFRA, 'main.tf'), 'utf8');
const variablesTf = readFileSync(join(INFRA, 'variables.tf'), 'utf8');

function model(settings?: Readonly<Record<string, FunctionSettings>>) {
  return scaleModel(measured, COLLECTION_CLASSES, prices, {
    eventsPerHour: scaling.events_per_hour,
    headroom: scaling.headroom,
    cpuUtilization: DEFAULT_SCALE.cpuUtilization,
    ...(settings ? { settings } : {}),
  });
}

describe("infra/'s function defaults and the scale model", () => {
  it('are the model’s recommendation at 2M events/hour with its headroom, from the measurement', () => {
    expect({ events_per_hour: scaling.events_per_hour, headroom: scaling.headroom }).toEqual({ events_per_hour: 2_000_000, headroom: DEFAULT_SCALE.headroom });
    expect(scaling).toEqual(scalingFile(model(), DEFAULT_SCALE.headroom));
    // Concurrency above 1 only with a whole vCPU (the variable's validation says the same of function_settings).
    for (const [name, f] of Object.entries(scaling.functions)) expect({ name, ok: f.concurrency === 1 || Number(f.available_cpu) >= 1 }).toEqual({ name, ok: true });
  });

  it('keep every function within its instances at 2M/h, with the headroom, as deployed', () => {
    const deployed = deployedSettings(mainTf, variablesTf, scaling, prices);
    const r = model(deployed);
    expect(Object.entries(r.per_function).filter(([, f]) => !f.within_max_instances).map(([name]) => name)).toEqual([]);
    expect(r.limits.filter((l) => l.kind === 'hard' && l.at_events_per_hour !== null && l.at_events_per_hour < scaling.events_per_hour)).toEqual([]);
    // Every function the measurement saw at work has its entry: none is left at the 10 instances of old.
    expect(Object.keys(r.per_function).filter((name) => scaling.functions[name] === undefined)).toEqual([]);
  });

  it('are read by main.tf: a function block that ignores them is refused', () => {
    expect(() => deployedSettings(mainTf.replace('try(local.function_scaling[each.key].concurrency, 1)', '1'), variablesTf, scaling, prices)).toThrow(/concurrency does not come from local.function_scaling/);
    expect(() => deployedSettings(mainTf.replace('try(local.function_scaling[each.key].max_instances, var.max_instances)', 'var.max_instances'), variablesTf, scaling, prices)).toThrow(/max_instances/);
  });

  describe('as Terraform evaluates infra/scaling.tf', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'infra-scaling-'));
      for (const file of ['variables.tf', 'scaling.tf', 'function-scaling.json']) copyFileSync(join(INFRA, file), join(dir, file));
      const init = terraform(['init', '-input=false', '-backend=false'], dir);
      if (init.status !== 0) throw new Error(`terraform init failed:\n${init.stderr}${init.stdout}`);
    });

    function evaluate(functionSettings = '{}'): Record<string, { max_instances: number; available_cpu: string | null; concurrency: number }> {
      const out = terraform(['console', '-var', 'project_id=p', '-var', 'region=europe-west1', '-var', `function_settings=${functionSettings}`], dir, 'jsonencode(local.function_scaling)\n');
      if (out.status !== 0) throw new Error(`terraform console failed:\n${out.stderr}${out.stdout}`);
      return JSON.parse(JSON.parse(out.stdout.trim()) as string) as ReturnType<typeof evaluate>;
    }

    it('deploys what the scale tool reads as deployed', () => {
      const deployed = deployedSettings(mainTf, variablesTf, scaling, prices);
      const tf = evaluate();
      expect(Object.keys(tf).sort()).toEqual(Object.keys(scaling.functions).sort());
      for (const name of Object.keys(tf)) {
        expect({ name, ...tf[name] }).toEqual({ name, max_instances: deployed[name]!.maxInstances, concurrency: deployed[name]!.concurrency, available_cpu: String(deployed[name]!.cpu) });
      }
      // A function without an entry (not measured) keeps the old defaults.
      const unmeasured = topology.functions.map((f) => f.name).filter((name) => scaling.functions[name] === undefined);
      for (const name of unmeasured) expect(deployed[name]).toMatchObject({ maxInstances: 10, concurrency: 1 });
    });

    it('lets function_settings override one field, and falls back to concurrency 1 below a whole vCPU', () => {
      const [name, defaults] = Object.entries(scaling.functions).find(([, f]) => f.concurrency > 1) ?? [];
      if (name === undefined || defaults === undefined) throw new Error('no function with concurrency above 1 in infra/function-scaling.json: nothing to override');
      expect(evaluate(`{ "${name}" = { max_instances = 3 } }`)[name]).toEqual({ ...defaults, max_instances: 3 });
      expect(evaluate(`{ "${name}" = { available_cpu = "0.5" } }`)[name]).toEqual({ ...defaults, available_cpu: '0.5', concurrency: 1 });
      expect(evaluate(`{ "${name}" = { concurrency = 2, available_cpu = "2" } }`)[name]).toEqual({ ...defaults, available_cpu: '2', concurrency: 2 });
    });
  });
});
