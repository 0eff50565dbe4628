import { writeFileSync } from 'node:fs';
import { worldFile } from '../log-world';
import type { Demo } from './types';

/**
 * The demo as files for `event-recovery replay`: the events, the rates, the injected faults, and
 * the world the stand-ins serve for it (what Stripe, Twilio, HubSpot and Salesforce hold).
 */
export function writeDemoFiles(demo: Demo, ndjsonPath: string): { events: string; rates: string; faults: string; world: string } {
  const base = ndjsonPath.replace(/\.ndjson$/, '');
  const paths = { events: ndjsonPath, rates: `${base}.rates.json`, faults: `${base}.faults.json`, world: `${base}.world.json` };
  writeFileSync(paths.events, demo.messages.map((m) => `${m.data}\n`).join(''));
  writeFileSync(paths.rates, `${JSON.stringify(demo.world.rates, null, 2)}\n`);
  // What the local stack's stand-ins know (npm run dev -- --log): the demo's payments, calls and CRM records.
  writeFileSync(paths.world, worldFile(demo.world));
  writeFileSync(paths.faults, `${JSON.stringify({ seed: demo.seed, now: new Date(demo.now).toISOString(), faults: demo.faults }, null, 2)}\n`);
  return paths;
}
