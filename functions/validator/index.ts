import { registerPush } from '../../shared/pubsub/push-http';
import { PubSub } from '@google-cloud/pubsub';
import { z } from 'zod';
import { PubSubPublisher } from '../../shared/adapters/pubsub-publisher';
import { envNumber, readConfig, ResourceEnv } from '../../shared/config';
import { cloudBoundary } from '../../shared/boundary-cloud';
import { jsonLogger } from '../../shared/log';
import { systemClock } from '../../shared/ports';
import { NAME } from './core';
import { validatorHandler } from './handler';

export const Env = z.object({ MAX_FUTURE_MINUTES: envNumber(5), ...ResourceEnv });

/** Composition root: reads the configuration and builds the clients once, at cold start. */
export function register(env: NodeJS.ProcessEnv = process.env): void {
  const config = readConfig(Env, env, NAME);
  registerPush(
    NAME,
    cloudBoundary(NAME, env, validatorHandler({
      publisher: new PubSubPublisher(new PubSub(), config.RESOURCE_PREFIX),
      clock: systemClock,
      config: { maxFutureMs: config.MAX_FUTURE_MINUTES * 60_000 },
      logger: jsonLogger(undefined, { function: NAME }),
    })),
  );
}
