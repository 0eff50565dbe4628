import { z } from 'zod';
import { ConfigError } from './errors';

/** Reads a function's configuration from the environment once, failing with every problem named. */
export function readConfig<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv, owner: string): z.infer<S> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(`${owner}: invalid configuration in the environment:\n${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}

/** An optional positive number in the environment, with a default. */
export function envNumber(defaultValue: number) {
  return z.coerce.number().positive().default(defaultValue);
}

/**
 * Prepended to every topic name a function publishes to (and stripped from the topics it reads),
 * so that several stacks can share one project: the same prefix the manifest's resources got.
 */
export const ResourceEnv = {
  RESOURCE_PREFIX: z
    .string()
    .regex(/^([a-z][a-z0-9-]*)?$/, { message: 'must be empty or start with a letter and hold only a-z, 0-9 and -' })
    .default(''),
};
