import { z } from 'zod';
import { ConfigError } from './errors';
import { topology } from './topology';

/**
 * The variables of `env` that hold only Terraform's placeholder secret version (the manifest's
 * `secretPlaceholder`): a secret created at the first apply that nobody has given a value yet.
 */
export function unsetSecrets(env: NodeJS.ProcessEnv): string[] {
  return Object.keys(env)
    .filter((k) => env[k] === topology.secretPlaceholder)
    .sort();
}

/**
 * Reads a function's configuration from the environment once, failing with every problem named.
 * A variable that holds the secret placeholder counts as unset: an optional key turns its check
 * off, a required one fails here, and the message says which secret still needs a version.
 */
export function readConfig<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv, owner: string): z.infer<S> {
  const unset = unsetSecrets(env);
  const parsed = schema.safeParse(unset.length === 0 ? env : Object.fromEntries(Object.entries(env).filter(([k]) => !unset.includes(k))));
  if (!parsed.success) {
    throw new ConfigError(`${owner}: invalid configuration in the environment:\n${z.prettifyError(parsed.error)}${unset.length ? `\n${placeholderNote(unset)}` : ''}`);
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

/**
 * Where a function keeps its hot per-event state (the deduplicator's keys, gap-detector's sequence
 * markers): `firestore` bills each document read, written and deleted; `bigtable` bills nodes by the
 * hour (shared/adapters/bigtable.ts), cheaper from a few hundred thousand events an hour. Terraform
 * sets both from its `state_store` variable; the local stack runs the emulator of the one it uses.
 */
export const StateStoreEnv = {
  STATE_STORE: z.enum(['firestore', 'bigtable']).default('firestore'),
  BIGTABLE_INSTANCE: z.string().regex(/^[a-z][a-z0-9-]{5,32}$/, { message: 'must be 6-33 characters of a-z, 0-9 and -, starting with a letter' }).default('event-recovery'),
};

/** What a ConfigError adds when secrets hold only Terraform's placeholder. */
export function placeholderNote(unset: readonly string[]): string {
  return `${unset.join(', ')} ${unset.length === 1 ? 'holds' : 'hold'} only Terraform's placeholder: add a version of ${unset.length === 1 ? 'its secret' : 'their secrets'} (gcloud secrets versions add; README, Deploy to GCP), then restart the function`;
}
