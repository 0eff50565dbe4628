import { registerPush } from '../../shared/pubsub/push-http';
import { z } from 'zod';
import { LIMITER_MAX_WAIT_MS, TwilioEnv, twilioFromEnv } from '../../shared/adapters/external';
import { cloudBoundary } from '../../shared/boundary-cloud';
import { cloudShell, LedgerEnv } from '../../shared/adapters/checker-shell';
import { readConfig } from '../../shared/config';
import { systemClock } from '../../shared/ports';
import { NAME } from './core';
import { callDurationCheckerHandler } from './handler';

export const Env = z.object({ ...TwilioEnv.shape, ...LedgerEnv.shape });

/** Composition root: reads the configuration and builds the clients once, at cold start. */
export function register(env: NodeJS.ProcessEnv = process.env): void {
  const config = readConfig(Env, env, NAME);
  const calls = twilioFromEnv(config, { clock: systemClock, maxWaitMs: LIMITER_MAX_WAIT_MS });
  const shell = cloudShell(NAME, config);
  shell.logger.log(calls ? 'INFO' : 'WARNING', `${NAME} configured`, {
    twilio: calls ? 'on' : 'off: no TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN (only the 0 s rule applies)',
  });
  registerPush(NAME, cloudBoundary(NAME, env, callDurationCheckerHandler({ ...shell, ...(calls ? { calls } : {}) })));
}
