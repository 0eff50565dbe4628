import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { generateLog } from '../generate/log';
import { worldFile, worldOfLog, worldPath } from '../generate/log-world';
import { buildDemo, DEMO_DEFAULTS, writeDemoFiles } from '../generate/demo';
import { UsageError } from '../usage';

export const USAGE = `Usage: event-recovery generate [--events N] [--seed S] [--out FILE]

Writes a sample event log to try everything without writing events by hand. Without --events:
the demo stream of the local stack (about 300 events of the last two hours, with known faults
injected: invalid events, duplicates, lost sequence numbers, broken chains, wrong totals,
conversions and call durations). With --events N: a larger log of N lines (lead flows, sales in
five currencies, calls, discounts, with about 1 % duplicates, 0.3 % invalid lines and 0.1 %
dropped events), starting 2026-03-01.

Options:
  --events N     a generated log of N lines instead of the demo stream
  --seed S       the seed (default: ${DEMO_DEFAULTS.seed} for the demo, 42 for --events): same seed, same log
  --out FILE     where to write (default: standard output); with a file, its exchange rates go to
                 FILE's .rates.json, the calls and payments the local stack's stand-ins answer for
                 to FILE's .world.json (npm run dev -- --log FILE) and, for the demo, the injected
                 faults to FILE's .faults.json
  -h, --help     this text

Then: event-recovery replay FILE --rates FILE.rates.json (the command it prints on stderr).
`;

const Count = z.coerce.number().int().positive();

export async function generateCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      events: { type: 'string' },
      seed: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`generate: unexpected argument "${positionals[0]}" (did you mean --out ${positionals[0]}?)`);
  const events = values.events === undefined ? undefined : Count.safeParse(values.events);
  if (events && !events.success) throw new UsageError('--events must be a positive whole number');
  const seed = values.seed === undefined ? undefined : z.coerce.number().int().nonnegative().safeParse(values.seed);
  if (seed && !seed.success) throw new UsageError('--seed must be a whole number of at least 0');
  const out = values.out === undefined || values.out === '-' ? undefined : values.out;
  const ratesPath = (file: string) => `${file.replace(/\.ndjson$/, '')}.rates.json`;

  if (events) {
    const log = await generateLog(out ?? process.stdout, events.data, seed?.data ?? 42);
    if (out) {
      writeFileSync(ratesPath(out), `${JSON.stringify(log.rates, null, 2)}\n`);
      // The stand-ins of the local stack answer for the log's calls and payments (npm run dev -- --log).
      writeFileSync(worldPath(out), worldFile(worldOfLog(readFileSync(out, 'utf8').split('\n'), log.rates)));
      process.stderr.write(`generate: wrote ${log.events.toLocaleString('en-US')} lines to ${out}, rates to ${ratesPath(out)}, what the local stack's stand-ins know to ${worldPath(out)}\n`);
      process.stderr.write(`replay it: event-recovery replay ${out} --rates ${ratesPath(out)}\n`);
    }
    return 0;
  }
  const demo = buildDemo({ now: Date.now(), ...(seed ? { seed: seed.data } : {}) });
  if (!out) {
    process.stdout.write(demo.messages.map((m) => `${m.data}\n`).join(''));
    return 0;
  }
  const paths = writeDemoFiles(demo, out);
  process.stderr.write(
    `generate: wrote ${demo.messages.length} events to ${paths.events}, rates to ${paths.rates}, the ${demo.faults.length} injected faults to ${paths.faults}, what Stripe, Twilio and the CRMs hold to ${paths.world}\n` +
      `replay it: event-recovery replay ${paths.events} --rates ${paths.rates} --now ${new Date(demo.now).toISOString()}\n`,
  );
  return 0;
}
