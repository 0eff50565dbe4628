import { createReadStream, openSync, closeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { PubSub } from '@google-cloud/pubsub';
import { z } from 'zod';
import { producerTopic, publishPayload } from '../../shared/adapters/pubsub-producer';
import { RateLimiter, type Sleep } from '../../shared/adapters/rate-limiter';
import { systemClock, type Clock } from '../../shared/ports';
import { TOPICS } from '../../shared/topology';
import { UsageError } from '../usage';

export const DEFAULT_RATE = 500;
export const DEFAULT_MAX_IN_FLIGHT = 1000;

export const USAGE = `Usage: event-recovery publish <events.ndjson | -> [options]

Publishes an NDJSON event log into a pipeline's raw topic, one line a message, as a producer
would: into the local stack (PUBSUB_EMULATOR_HOST set: its Pub/Sub emulator) or into a deployed
pipeline (Application Default Credentials, e.g. gcloud auth application-default login; the
caller needs roles/pubsub.publisher on the topic).

Options:
  --project ID         the project (default: GOOGLE_CLOUD_PROJECT)
  --topic NAME         the topic (default: ${TOPICS.raw}; a deployment with a resource prefix
                       names it PREFIX${TOPICS.raw})
  --rate N             at most N messages a second (default: ${DEFAULT_RATE})
  --from-line N        start at line N (1-based), e.g. to resume a run that stopped (default: 1)
  --max-in-flight N    messages sent and not yet confirmed, at most (default: ${DEFAULT_MAX_IN_FLIGHT})
  --quiet              no progress on stderr
  -h, --help           this text

Blank lines are skipped; every other line goes as it is (the deduplicator validates each one and reports broken ones),
with the event's type, source and id as attributes. The client batches the messages (up to 500
a request); no ordering keys: the rules expect out-of-order arrival.

Exit status: 0 when every line was published; 1 when publishing failed: stderr names the line to
resume from with --from-line (lines after it may be in already; the deduplicator drops a
repeated id); 2 for bad usage or unreadable input.
`;

/** What a run did: lines are 1-based numbers of the input. */
export interface PublishResult {
  readonly published: number;
  /** Blank lines, not sent. */
  readonly blank: number;
  /** The last line read. */
  readonly lastLine: number;
  /** Set when publishing failed: the first line not known to be published, and why. */
  readonly failure?: { readonly resumeFrom: number; readonly error: Error };
}

export interface PublishProgress {
  readonly line: number;
  readonly published: number;
  readonly perSecond: number;
}

export interface PublishLogOptions {
  readonly fromLine: number;
  readonly rate: number;
  readonly maxInFlight: number;
  readonly clock: Clock;
  readonly sleep?: Sleep;
  /** Called about once a second while publishing. */
  readonly onProgress?: (p: PublishProgress) => void;
}

/**
 * Sends each non-blank line from `fromLine` on through `send`, at most `rate` a second and
 * `maxInFlight` unconfirmed at once. On the first failure it reads no further, waits for what is
 * in flight, and reports the lowest line not confirmed: resuming there loses nothing.
 */
export async function publishLog(lines: AsyncIterable<string>, send: (text: string) => Promise<unknown>, options: PublishLogOptions): Promise<PublishResult> {
  const limiter = new RateLimiter({
    name: 'publish',
    ratePerSecond: options.rate,
    // Slots in 50 ms steps, so high rates do not sleep once per message.
    burst: Math.max(1, Math.ceil(options.rate / 20)),
    clock: options.clock,
    ...(options.sleep ? { sleep: options.sleep } : {}),
  });
  const inFlight = new Set<number>();
  const failed: Array<{ line: number; error: Error }> = [];
  let wake: (() => void) | undefined;
  let published = 0;
  let blank = 0;
  let lineNo = 0;
  const started = options.clock.now();
  let lastReport = started;

  const settle = (line: number) => {
    inFlight.delete(line);
    wake?.();
  };
  const roomOrFailure = async () => {
    while (inFlight.size >= options.maxInFlight && failed.length === 0) await new Promise<void>((resolve) => (wake = resolve));
  };

  for await (const line of lines) {
    lineNo++;
    if (lineNo < options.fromLine) continue;
    if (line.trim() === '') {
      blank++;
      continue;
    }
    await roomOrFailure();
    if (failed.length > 0) break;
    await limiter.acquire();
    const n = lineNo;
    inFlight.add(n);
    send(line).then(
      () => {
        published++;
        settle(n);
      },
      (err: unknown) => {
        failed.push({ line: n, error: err instanceof Error ? err : new Error(String(err)) });
        settle(n);
      },
    );
    const now = options.clock.now();
    if (options.onProgress && now - lastReport >= 1000) {
      lastReport = now;
      options.onProgress({ line: n, published, perSecond: Math.round((published * 1000) / Math.max(1, now - started)) });
    }
  }
  while (inFlight.size > 0) await new Promise<void>((resolve) => (wake = resolve));
  if (failed.length === 0) return { published, blank, lastLine: lineNo };
  const first = failed.reduce((a, b) => (b.line < a.line ? b : a));
  return { published, blank, lastLine: lineNo, failure: { resumeFrom: first.line, error: first.error } };
}

const Positive = z.coerce.number().positive();
const LineNumber = z.coerce.number().int().min(1);
const Count = z.coerce.number().int().min(1).max(100_000);
/** Pub/Sub topic ids: 3-255 characters, a letter first, not starting with "goog". */
const TopicName = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9._~%+-]{2,254}$/)
  .refine((t) => !t.startsWith('goog'));

function option<T>(schema: z.ZodType<T>, value: string | undefined, fallback: T, message: string): T {
  if (value === undefined) return fallback;
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new UsageError(message);
  return parsed.data;
}

/** Why a publish failed, in words an operator can act on. */
export function describePublishError(err: Error, topic: string, project: string): string {
  const code = (err as { code?: unknown }).code;
  if (code === 5) return `topic ${topic} does not exist in project ${project}`;
  if (code === 7) return `permission denied on topic ${topic} in project ${project} (publishing needs roles/pubsub.publisher)`;
  if (code === 16) return `not authenticated: run gcloud auth application-default login, or set GOOGLE_APPLICATION_CREDENTIALS`;
  return err.message;
}

/** `event-recovery publish`: returns the exit status; throws {@link UsageError} for bad usage. */
export async function publishCommand(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      project: { type: 'string' },
      topic: { type: 'string' },
      rate: { type: 'string' },
      'from-line': { type: 'string' },
      'max-in-flight': { type: 'string' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new UsageError(positionals.length === 0 ? 'missing input: a file of NDJSON events, or - for standard input' : `expected one input, got ${positionals.length}`);
  }
  const rate = option(Positive, values.rate, DEFAULT_RATE, '--rate must be a positive number of messages a second');
  const fromLine = option(LineNumber, values['from-line'], 1, '--from-line must be a line number, 1 or more');
  const maxInFlight = option(Count, values['max-in-flight'], DEFAULT_MAX_IN_FLIGHT, '--max-in-flight must be a whole number from 1 to 100000');
  const topicName = option(TopicName, values.topic, TOPICS.raw, `--topic: not a Pub/Sub topic name: ${values.topic}`);
  const project = values.project ?? env.GOOGLE_CLOUD_PROJECT;
  if (!project) throw new UsageError('no project: pass --project or set GOOGLE_CLOUD_PROJECT');
  const input = positionals[0]!;
  if (input !== '-') {
    try {
      closeSync(openSync(input, 'r'));
    } catch (err) {
      throw new UsageError(`cannot read ${input}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }

  const emulator = env.PUBSUB_EMULATOR_HOST;
  if (emulator) process.env.METADATA_SERVER_DETECTION ??= 'none'; // the emulator needs no credentials
  const pubsub = new PubSub({ projectId: project });
  const topic = producerTopic(pubsub, topicName);
  const where = `${topicName} (project ${project}${emulator ? `, emulator ${emulator}` : ''})`;
  const stream = input === '-' ? process.stdin : createReadStream(input);
  let result: PublishResult;
  try {
    result = await publishLog(createInterface({ input: stream, crlfDelay: Infinity }), (text) => publishPayload(topic, text), {
      fromLine,
      rate,
      maxInFlight,
      clock: systemClock,
      ...(values.quiet ? {} : { onProgress: (p: PublishProgress) => process.stderr.write(`publish: line ${p.line}: ${p.published} published, ${p.perSecond}/s\n`) }),
    });
  } finally {
    await pubsub.close();
  }
  const range = `lines ${fromLine}-${result.lastLine}`;
  if (result.failure) {
    process.stderr.write(
      `publish: failed at line ${result.failure.resumeFrom}: ${describePublishError(result.failure.error, topicName, project)}\n` +
        `publish: ${result.published} published to ${where}; resume with --from-line ${result.failure.resumeFrom}\n`,
    );
    return 1;
  }
  process.stdout.write(`published ${result.published} message${result.published === 1 ? '' : 's'} (${range}${result.blank ? `, ${result.blank} blank skipped` : ''}) to ${where}\n`);
  return 0;
}
