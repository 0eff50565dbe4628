#!/usr/bin/env node
import { exampleCommand } from './commands/example';
import { generateCommand } from './commands/generate';
import { replayCommand } from './commands/replay';
import { ConfigError } from '../shared/errors';
import { schemaCommand } from './commands/schema';
import { isUsageError, UsageError } from './usage';
import { packageVersion } from './version';

/** One entry per subcommand: its one-line summary and what runs it (returns the exit status). */
const COMMANDS: Record<string, { readonly summary: string; readonly run: (args: string[]) => Promise<number> }> = {
  replay: { summary: 'replay an NDJSON event log through the rules in one process', run: replayCommand },
  schema: { summary: 'print the JSON Schema of an event type (or of every event)', run: schemaCommand },
  example: { summary: 'print a valid example event of a type', run: exampleCommand },
  generate: { summary: 'write a sample event log: the demo stream, or a larger one', run: generateCommand },
  // Loaded when asked for: they bring the Pub/Sub client, which a replay does not need.
  dlq: { summary: 'dead letters, rejected events and reviews: list, show, replay, fix, discard, stats, audit', run: async (args) => (await import('./commands/dlq')).dlqCommand(args) },
  publish: { summary: "publish an NDJSON event log into a pipeline's raw topic (local or deployed)", run: async (args) => (await import('./commands/publish')).publishCommand(args) },
};

const USAGE = `Usage: event-recovery <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`)
  .join('\n')}

Run "event-recovery <command> --help" for a command's options (e.g. "event-recovery replay --help");
"event-recovery --version" for the version. Installed in a project (npm install), run it as
"npx event-recovery ..."; from this repository, "node dist/cli/event-recovery.js ..." after npm run build.
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === '--version') {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  const entry = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!entry) throw new UsageError(`unknown command "${command}" (try: event-recovery --help)`);
  return entry.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // A configuration an upstream refused (a Stripe key of the wrong mode): one line, as bad usage.
    if (isUsageError(err) || err instanceof ConfigError) {
      process.stderr.write(`event-recovery: ${(err as Error).message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`event-recovery: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
