import { registerPush } from '../../shared/pubsub/push-http';
import type { CountryCode } from 'libphonenumber-js';
import { z } from 'zod';
import { CrmEnv, crmsFromEnv, LIMITER_MAX_WAIT_MS } from '../../shared/adapters/external';
import { cloudBoundary } from '../../shared/boundary-cloud';
import { cloudShell, LedgerEnv } from '../../shared/adapters/checker-shell';
import { readConfig } from '../../shared/config';
import { systemClock } from '../../shared/ports';
import { NAME } from './core';
import { crmCheckerHandler } from './handler';

export const Env = z.object({
  ...CrmEnv.shape,
  ...LedgerEnv.shape,
  /** Write the event's values back to a record found wrong (DESIGN §3: opt-in, GCP only). */
  CRM_REPAIR: z.enum(['true', 'false']).default('false'),
});

/** Composition root: reads the configuration and builds the clients once, at cold start. */
export function register(env: NodeJS.ProcessEnv = process.env): void {
  const config = readConfig(Env, env, NAME);
  const crms = crmsFromEnv(config, { clock: systemClock, maxWaitMs: LIMITER_MAX_WAIT_MS });
  const shell = cloudShell(NAME, config);
  const repair = config.CRM_REPAIR === 'true';
  shell.logger.log(crms.hubspot || crms.salesforce ? 'INFO' : 'WARNING', `${NAME} configured`, {
    hubspot: crms.hubspot ? 'on' : 'off: no HUBSPOT_ACCESS_TOKEN',
    salesforce: crms.salesforce ? 'on' : 'off: no SALESFORCE_INSTANCE_URL/SALESFORCE_ACCESS_TOKEN',
    repair: repair ? 'on' : 'off',
  });
  const crmConfig = { repair, defaultCountry: config.CRM_DEFAULT_COUNTRY as CountryCode };
  registerPush(NAME, cloudBoundary(NAME, env, crmCheckerHandler({ ...shell, config: crmConfig, crms })));
}
