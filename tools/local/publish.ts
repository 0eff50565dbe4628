#!/usr/bin/env node
/**
 * Publishes events to the local stack: one CloudEvent JSON per line (NDJSON), each line as one
 * message, as a producer would. Lines are sent as they are, broken ones too: rejecting them is
 * the validator's job.
 *
 *   PUBSUB_EMULATOR_HOST=127.0.0.1:PORT GOOGLE_CLOUD_PROJECT=P node dist/tools/local/publish.js events.ndjson
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { PubSub, type Topic } from '@google-cloud/pubsub';
import { TOPICS, topology } from '../../shared/topology';

/**
 * The attributes a producer sets beside the event (DESIGN §2: `type`, `source` and `id` repeated
 * for filtering), as far as they can be read from the payload; none for a payload that is not JSON.
 */
export function producerAttributes(text: string): Record<string, string> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return {};
  }
  const attributes: Record<string, string> = {};
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const key of ['type', 'source', 'id'] as const) {
      const v = (value as Record<string, unknown>)[key];
      // Pub/Sub caps attribute values at 1024 bytes.
      if (typeof v === 'string' && v.length > 0 && Buffer.byteLength(v) <= 1024) attributes[key] = v;
    }
  }
  return attributes;
}

/** Publishes one payload as a producer does; resolves with the message id. */
export function publishPayload(topic: Topic, text: string): Promise<string> {
  return topic.publishMessage({ data: Buffer.from(text), attributes: producerAttributes(text) });
}

/** A topic handle that sends at once: batches of up to 500 messages, held at most 5 ms. */
export function rawTopic(pubsub: PubSub, name: string = TOPICS.raw): Topic {
  return pubsub.topic(name, { batching: { maxMessages: 500, maxMilliseconds: 5 } });
}

const USAGE = `Usage: node dist/tools/local/publish.js <events.ndjson | -> [--topic ${TOPICS.raw}] [--project ID]

Publishes each line (one CloudEvent JSON) as one message to a topic of the local stack's Pub/Sub
emulator. Needs PUBSUB_EMULATOR_HOST; the project is GOOGLE_CLOUD_PROJECT unless --project says.
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { topic: { type: 'string', default: TOPICS.raw }, project: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const host = process.env.PUBSUB_EMULATOR_HOST;
  const projectId = values.project ?? process.env.GOOGLE_CLOUD_PROJECT;
  const input = positionals[0];
  const problem =
    positionals.length !== 1
      ? 'expected one input: a file of NDJSON events, or - for standard input'
      : !host
        ? 'PUBSUB_EMULATOR_HOST is not set: start the stack with `npm run dev`, which prints it'
        : !projectId
          ? 'no project: set GOOGLE_CLOUD_PROJECT or pass --project (`npm run dev` prints it)'
          : !topology.topics.some((t) => t.name === values.topic)
            ? `unknown topic ${values.topic} (topics: ${topology.topics.map((t) => t.name).join(', ')})`
            : undefined;
  if (problem) {
    process.stderr.write(`publish: ${problem}\n${USAGE}`);
    return 2;
  }
  process.env.METADATA_SERVER_DETECTION ??= 'none'; // the emulator needs no credentials
  const pubsub = new PubSub({ projectId: projectId! });
  const topic = rawTopic(pubsub, values.topic);
  const stream = input === '-' ? process.stdin : createReadStream(input!);
  const pending: Promise<string>[] = [];
  try {
    for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) {
      if (line.trim() === '') continue;
      pending.push(publishPayload(topic, line));
    }
    await Promise.all(pending);
  } catch (err) {
    process.stderr.write(`publish: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await pubsub.close();
  }
  process.stdout.write(`published ${pending.length} message${pending.length === 1 ? '' : 's'} to ${values.topic} (project ${projectId} on ${host})\n`);
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      process.stderr.write(`publish: ${(err as Error).message}\n`);
      process.exitCode = (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') ? 2 : 1;
    },
  );
}
