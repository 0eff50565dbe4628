import { parseArgs } from 'node:util';
import { z } from 'zod';
import { eventTypes, isEventType } from '../../shared/events/catalog';
import { BusinessEvent, envelopes } from '../../shared/events/envelope';
import type { EventType } from '../../shared/events/catalog';
import { UsageError } from '../usage';

export const USAGE = `Usage: event-recovery schema [TYPE]

Prints the JSON Schema (draft 2020-12) of an event of TYPE, or of any catalog event without
TYPE, generated from the schemas validation uses, so a producer can check events before it
publishes them. Types: ${eventTypes.join(', ')}.

Beyond what JSON Schema can say, validation also checks: "time" is a real calendar instant
not more than 5 minutes ahead of its clock, "currency" is an ISO 4217 code, a call's
"started_at" is RFC 3339.
`;

/** The JSON Schema of one catalog type, or of the whole discriminated union. */
export function eventJsonSchema(type?: EventType): Record<string, unknown> {
  const schema = type === undefined ? BusinessEvent : envelopes[type];
  const json = z.toJSONSchema(schema, { io: 'input' }) as Record<string, unknown>;
  return { ...json, title: type === undefined ? 'event-recovery event' : `event-recovery ${type} event` };
}

/** Reads `[TYPE]` as a known event type, or nothing. */
export function typeArgument(positionals: string[], required: boolean, command: string): EventType | undefined {
  if (positionals.length > 1) throw new UsageError(`${command}: expected at most one TYPE, got ${positionals.length}`);
  const type = positionals[0];
  if (type === undefined) {
    if (required) throw new UsageError(`${command}: missing TYPE, one of ${eventTypes.join(', ')}`);
    return undefined;
  }
  if (!isEventType(type)) throw new UsageError(`${command}: unknown type "${type}", expected one of ${eventTypes.join(', ')}`);
  return type;
}

export async function schemaCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { help: { type: 'boolean', short: 'h', default: false } } });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  process.stdout.write(`${JSON.stringify(eventJsonSchema(typeArgument(positionals, false, 'schema')), null, 2)}\n`);
  return 0;
}
