import { registerPush } from '../../shared/pubsub/push-http';
import { z } from 'zod';
import { LIMITER_MAX_WAIT_MS, RatesEnv, ratesFromEnv, StripeEnv, stripeFromEnv } from '../../shared/adapters/external';
import { cloudBoundary } from '../../shared/boundary-cloud';
import { cloudShell, LedgerEnv } from '../../shared/adapters/checker-shell';
import { readConfig } from '../../shared/config';
import { ConfigError } from '../../shared/errors';
import { systemClock } from '../../shared/ports';
import { DEFAULT_REVIEW_FACTOR, NAME } from './core';
import { revenueCheckerHandler } from './handler';

export const Env = z.object({
  ...StripeEnv.shape,
  ...RatesEnv.shape,
  ...LedgerEnv.shape,
  REVIEW_FACTOR: z.coerce.number().min(1).default(DEFAULT_REVIEW_FACTOR),
});

/** Composition root: reads the configuration and builds the clients once, at cold start. */
export function register(env: NodeJS.ProcessEnv = process.env): void {
  const config = readConfig(Env, env, NAME);
  const ctx = { clock: systemClock, maxWaitMs: LIMITER_MAX_WAIT_MS };
  const rates = ratesFromEnv(config, ctx);
  if (!rates) throw new ConfigError(`${NAME}: set OXR_APP_ID (OpenExchangeRates) or, for local runs, RATES_FILE`);
  const payments = stripeFromEnv(config, ctx);
  const shell = cloudShell(NAME, config);
  shell.logger.log('INFO', `${NAME} configured`, { rates: config.RATES_FILE ? 'file' : 'openexchangerates', stripe: payments ? 'on' : 'off: no STRIPE_API_KEY' });
  registerPush(NAME, cloudBoundary(NAME, env, revenueCheckerHandler({ ...shell, config: { reviewFactor: config.REVIEW_FACTOR }, rates, ...(payments ? { payments } : {}) })));
}
