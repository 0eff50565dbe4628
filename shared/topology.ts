import { z } from 'zod';
import manifestJson from './topology.json';

const Name = z
  .string()
  .regex(/^[a-z][a-z0-9-]{2,62}$/, { message: 'must be 3-63 characters of a-z, 0-9 and -, starting with a letter' });

const RetryPolicy = z.strictObject({
  minimumBackoffSeconds: z.int().min(0).max(600),
  maximumBackoffSeconds: z.int().min(0).max(600),
});

const Subscription = z
  .strictObject({
    name: Name,
    topic: Name,
    push: z.strictObject({ function: Name }).optional(),
    pull: z.strictObject({}).optional(),
    bigquery: z.strictObject({ table: z.string().regex(/^[a-z_][a-z0-9_]*$/) }).optional(),
    filter: z.string().min(1).optional(),
    deadLetterTopic: Name.optional(),
    maxDeliveryAttempts: z.int().min(5).max(100).optional(),
    ackDeadlineSeconds: z.int().min(10).max(600).optional(),
    retryPolicy: RetryPolicy.optional(),
    /**
     * Subscriptions of earlier versions this one took over: dlq-triage aims the replay of a record
     * that names one of them here (a deployment keeps its triage records across an upgrade).
     */
    replaces: z.array(Name).min(1).optional(),
  })
  .refine((s) => [s.push, s.pull, s.bigquery].filter((d) => d !== undefined).length === 1, {
    message: 'needs exactly one delivery: push, pull or bigquery',
  });

/** An environment variable's name, as the functions' config schemas read it. */
const EnvName = z.string().regex(/^[A-Z][A-Z0-9_]*$/);

/** A Secret Manager secret, mounted into the functions that list it as the environment variable `env`. */
const Secret = z.strictObject({
  name: Name,
  env: EnvName,
  description: z.string(),
  /**
   * Mounted only when the function's environment settings (Terraform's function_settings) set
   * each of these variables to its value: a key the function reads in one mode only.
   */
  mountWhen: z.record(EnvName, z.string()).optional(),
});

/**
 * A Firestore collection a function keeps state in: Terraform sets a TTL policy on `ttlField` (none
 * when it is absent: the collection's documents are kept until deleted), and creates each composite index of `indexes` (fields in order, ascending) that the code's queries need.
 */
const FirestoreCollection = z.strictObject({
  collection: z.string().regex(/^[a-z][a-z0-9-]*$/),
  ttlField: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).optional(),
  indexes: z.array(z.array(z.string().min(1)).min(2)).optional(),
});

/**
 * How long Bigtable keeps a table's cells (its garbage-collection max age, one policy per column
 * family, infra/modules/bigtable): the sum of the function's settings named here, each read from
 * the deployment's environment for that function (Terraform's function_settings) or else this
 * default, which is the function's own config default (test/unit/infra-config.test.ts holds them
 * equal), in the unit its name ends with, plus a margin. Garbage collection only bounds storage:
 * it runs up to a week late, so the stores never rely on it to hide an expired cell
 * (https://cloud.google.com/bigtable/docs/garbage-collection).
 */
const BigtableMaxAge = z.strictObject({
  settings: z.record(z.string().regex(/^[A-Z][A-Z0-9_]*_(DAYS|HOURS|MINUTES|SECONDS)$/), z.number().positive()).refine((s) => Object.keys(s).length > 0, { message: 'names at least one setting' }),
  marginHours: z.number().nonnegative(),
});

/**
 * A Bigtable table a function keeps state in (when the deployment keeps its hot state in Bigtable:
 * shared/adapters/bigtable.ts). Terraform creates it with these column families and a
 * garbage-collection policy per family (`maxAge`); locally the stack creates it on the emulator.
 */
const BigtableTable = z.strictObject({
  table: z.string().regex(/^[a-z][a-z0-9-]*$/),
  families: z.array(z.string().regex(/^[a-z][a-z0-9_]*$/)).min(1),
  maxAge: BigtableMaxAge,
});

const FunctionSpec = z.strictObject({
  name: Name,
  publishes: z.array(Name),
  /** Names of `secrets` this function reads; nothing else is mounted. */
  secrets: z.array(Name).optional(),
  firestore: z.array(FirestoreCollection).optional(),
  bigtable: z.array(BigtableTable).optional(),
  /** Serves an operators' HTTP API (IAM-authenticated) besides its push subscriptions. */
  operatorApi: z.boolean().optional(),
});

export const Topology = z
  .strictObject({
    $comment: z.string().optional(),
    defaults: z.strictObject({
      ackDeadlineSeconds: z.int().min(10).max(600),
      maxDeliveryAttempts: z.int().min(5).max(100),
      retryPolicy: RetryPolicy,
      messageRetentionSeconds: z.int().min(600).max(2_678_400),
    }),
    topics: z.array(z.strictObject({ name: Name, description: z.string() })).min(1),
    /**
     * The value of the version Terraform gives every secret (modules/secrets), so that the first
     * apply can mount secrets nobody has set yet: a function reads it as unset (shared/config.ts).
     */
    secretPlaceholder: z.string().min(16),
    secrets: z.array(Secret).default([]),
    functions: z.array(FunctionSpec).min(1),
    subscriptions: z.array(Subscription).min(1),
  })
  .superRefine((t, ctx) => {
    const topics = new Set(t.topics.map((x) => x.name));
    const functions = new Set(t.functions.map((f) => f.name));
    const unique = (names: string[], what: string) => {
      const seen = new Set<string>();
      for (const n of names) {
        if (seen.has(n)) ctx.addIssue({ code: 'custom', message: `${what} ${n} is declared twice` });
        seen.add(n);
      }
    };
    unique(t.topics.map((x) => x.name), 'topic');
    unique(t.functions.map((x) => x.name), 'function');
    unique(t.subscriptions.map((x) => x.name), 'subscription');
    unique(t.secrets.map((x) => x.name), 'secret');
    unique(t.secrets.map((x) => x.env), 'secret environment variable');
    const secrets = new Set(t.secrets.map((s) => s.name));
    const ttlFields = new Map<string, string | undefined>();
    for (const f of t.functions) {
      for (const p of f.publishes) {
        if (!topics.has(p)) ctx.addIssue({ code: 'custom', message: `function ${f.name} publishes to unknown topic ${p}` });
      }
      for (const s of f.secrets ?? []) {
        if (!secrets.has(s)) ctx.addIssue({ code: 'custom', message: `function ${f.name} reads unknown secret ${s}` });
      }
      for (const c of f.firestore ?? []) {
        if (ttlFields.has(c.collection) && ttlFields.get(c.collection) !== c.ttlField) {
          const [a, b] = [ttlFields.get(c.collection) ?? 'none', c.ttlField ?? 'none'];
          ctx.addIssue({ code: 'custom', message: `collection ${c.collection} has two TTL fields: ${a} and ${b}` });
        }
        ttlFields.set(c.collection, c.ttlField);
      }
    }
    const current = new Set(t.subscriptions.map((s) => s.name));
    unique(t.subscriptions.flatMap((s) => s.replaces ?? []), 'replaced subscription');
    for (const s of t.subscriptions) {
      for (const r of s.replaces ?? []) if (current.has(r)) ctx.addIssue({ code: 'custom', message: `subscription ${s.name} replaces ${r}, which is still in the manifest` });
      if (!topics.has(s.topic)) ctx.addIssue({ code: 'custom', message: `subscription ${s.name} reads unknown topic ${s.topic}` });
      if (s.push && !functions.has(s.push.function)) {
        ctx.addIssue({ code: 'custom', message: `subscription ${s.name} pushes to unknown function ${s.push.function}` });
      }
      if ((s.push || s.bigquery) && !s.deadLetterTopic) {
        ctx.addIssue({ code: 'custom', message: `${s.push ? 'push' : 'BigQuery'} subscription ${s.name} has no dead-letter topic` });
      }
      if (s.deadLetterTopic && !topics.has(s.deadLetterTopic)) {
        ctx.addIssue({ code: 'custom', message: `subscription ${s.name} dead-letters to unknown topic ${s.deadLetterTopic}` });
      }
      if (s.deadLetterTopic === s.topic) {
        ctx.addIssue({ code: 'custom', message: `subscription ${s.name} dead-letters to the topic it reads` });
      }
    }
    for (const f of t.functions) {
      if (!t.subscriptions.some((s) => s.push?.function === f.name)) {
        ctx.addIssue({ code: 'custom', message: `function ${f.name} consumes no subscription` });
      }
    }
    // Pub/Sub waits for a push's answer for the subscription's ack deadline ("for push delivery,
    // this value is also used to set the request timeout for the call to the push endpoint",
    // https://googleapis.dev/dotnet/Google.Apis.Pubsub.v1beta2/latest/api/Google.Apis.Pubsub.v1beta2.Data.Subscription.html)
    // and counts a later answer as a failed attempt (https://cloud.google.com/pubsub/docs/push).
    // The function's timeout is that deadline (infra/modules/topology): one per function, or a
    // handler on the shorter one could run on after Pub/Sub gave up on it and redelivered.
    const deadlines = new Map<string, Array<{ name: string; seconds: number }>>();
    for (const s of t.subscriptions) {
      if (!s.push) continue;
      deadlines.set(s.push.function, [...(deadlines.get(s.push.function) ?? []), { name: s.name, seconds: s.ackDeadlineSeconds ?? t.defaults.ackDeadlineSeconds }]);
    }
    for (const [fn, subs] of deadlines) {
      if (new Set(subs.map((x) => x.seconds)).size > 1) {
        const list = subs.map((x) => `${x.name} ${x.seconds} s`).join(', ');
        ctx.addIssue({ code: 'custom', message: `function ${fn}: its push subscriptions have different ack deadlines (${list}); its timeout is one` });
      }
    }
    // A function knows the subscription that pushed a message only by its topic (the Functions
    // Framework drops the push body's subscription): failure keys and triage replays rely on it.
    const pushed = new Set<string>();
    for (const s of t.subscriptions) {
      if (!s.push) continue;
      const pair = `${s.push.function} ${s.topic}`;
      if (pushed.has(pair)) ctx.addIssue({ code: 'custom', message: `function ${s.push.function} has two subscriptions on topic ${s.topic}` });
      pushed.add(pair);
    }
  });
export type Topology = z.infer<typeof Topology>;

export interface ResolvedSubscription {
  readonly name: string;
  readonly topic: string;
  readonly delivery: 'push' | 'pull' | 'bigquery';
  readonly function?: string;
  readonly bigqueryTable?: string;
  readonly filter?: string;
  readonly deadLetterTopic?: string;
  readonly maxDeliveryAttempts: number;
  readonly ackDeadlineSeconds: number;
  readonly retryPolicy: { readonly minimumBackoffSeconds: number; readonly maximumBackoffSeconds: number };
  readonly messageRetentionSeconds: number;
}

/** Validates a manifest; throws with every problem listed when it is not sound. */
export function parseTopology(value: unknown): Topology {
  const parsed = Topology.safeParse(value);
  if (!parsed.success) throw new Error(`invalid topology manifest:\n${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** Every subscription with the manifest defaults filled in. */
export function resolveSubscriptions(topology: Topology): ResolvedSubscription[] {
  const d = topology.defaults;
  return topology.subscriptions.map((s) => ({
    name: s.name,
    topic: s.topic,
    delivery: s.push ? 'push' : s.pull ? 'pull' : 'bigquery',
    ...(s.push ? { function: s.push.function } : {}),
    ...(s.bigquery ? { bigqueryTable: s.bigquery.table } : {}),
    ...(s.filter ? { filter: s.filter } : {}),
    ...(s.deadLetterTopic ? { deadLetterTopic: s.deadLetterTopic } : {}),
    maxDeliveryAttempts: s.maxDeliveryAttempts ?? d.maxDeliveryAttempts,
    ackDeadlineSeconds: s.ackDeadlineSeconds ?? d.ackDeadlineSeconds,
    retryPolicy: s.retryPolicy ?? d.retryPolicy,
    messageRetentionSeconds: d.messageRetentionSeconds,
  }));
}

/** The project's manifest, validated once at load. */
export const topology: Topology = parseTopology(manifestJson);

/** Names of topics a function code refers to: checked against the manifest at load. */
export const TOPICS = {
  raw: 'events-raw',
  invalid: 'events-invalid',
  unique: 'events-unique',
  duplicates: 'events-duplicates',
  corrected: 'events-corrected',
  findings: 'findings',
  ticks: 'ticks',
  retrigger: 'events-retrigger',
  deadLetters: 'dead-letters',
} as const;
for (const name of Object.values(TOPICS)) {
  if (!topology.topics.some((t) => t.name === name)) throw new Error(`topic ${name} is not in shared/topology.json`);
}

/**
 * The registered name of a function: a `functions` entry of the manifest, which is the one list
 * (functions/registry.ts registers each by the `NAME` of its core; a test holds the two together).
 */
export type FunctionName = Topology['functions'][number]['name'];
