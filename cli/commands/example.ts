import { parseArgs } from 'node:util';
import { eventTypes } from '../../shared/events/catalog';
import { EXAMPLE_EVENTS } from '../../shared/events/examples';
import { typeArgument } from './schema';

export const USAGE = `Usage: event-recovery example TYPE [--pretty]

Prints one complete, valid event of TYPE as one JSON line (ready to append to an NDJSON log),
or indented with --pretty. Types: ${eventTypes.join(', ')}.
`;

export async function exampleCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { pretty: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const type = typeArgument(positionals, true, 'example')!;
  process.stdout.write(`${JSON.stringify(EXAMPLE_EVENTS[type], null, values.pretty ? 2 : undefined)}\n`);
  return 0;
}
