#!/usr/bin/env node
/**
 * The command of the local stack: `npm start` (run the demo once, print the report), `npm run dev`
 * (`--keep`: stay up), `npm run demo:ndjson` (`--write-demo`: the demo as files, no emulator).
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { buildDemo, writeDemoFiles } from '../../cli/generate/demo';
import { ratesPath, worldOfLog, worldPath } from '../../cli/generate/log-world';
import { RatesFile } from '../../shared/rates/file';
import { onPath } from './emulators';
import { DEFAULT_OPTIONS, DEFAULT_STATE_STORE, runDevWithWorld, runStack, StackError, type StackOptions, type StateStore } from './stack';

const USAGE = `Usage: node dist/tools/local/cli.js [--keep] [options]     (npm start, npm run dev)

Starts the Pub/Sub, Firestore and Bigtable emulators, creates the topology and the manifest's
Bigtable tables, serves every built function with the Functions Framework, publishes the demo
stream with its injected faults, prints the recovery report once the pipeline is quiet, and stops
everything it started.

Options:
  --keep               keep the stack up after the report and print how to publish to it
  --seed N             demo seed (default ${DEFAULT_OPTIONS.seed})
  --project ID         project id on the emulators (default ${DEFAULT_OPTIONS.projectId})
  --state-store S      where the functions keep their hot state (their STATE_STORE): bigtable, as
                       deployed (the Bigtable emulator starts beside the others, with the manifest's
                       tables), or firestore (no Bigtable emulator). Default: the environment's
                       STATE_STORE, else ${DEFAULT_STATE_STORE}. BIGTABLE_INSTANCE names the instance
                       (default event-recovery)
  --timeout SECONDS    bound on publishing and processing the demo (default ${DEFAULT_OPTIONS.timeoutMs / 1000})
  --verbose            the whole report (every topic, the findings by kind, examples, each fault, each
                       function log), and each published slice of the demo with the handler times
  --html FILE          write the report page there (default: report.html in the run's directory,
                       named in the report); the page replay --html writes, from the stack's topics
  --json FILE          also write the run (counts, findings, comparison, process ids) as JSON
  --write-demo FILE    write the demo as NDJSON (with FILE's .rates.json, .faults.json and .world.json)
                       and exit: no emulator needed; replay it with event-recovery replay
  --log FILE           with --keep: no demo; the stand-ins know the calls and payments of FILE's
                       .world.json (else those FILE reports) and the rates of FILE's .rates.json (as
                       event-recovery generate --out writes them), so that publishing FILE finds
                       what event-recovery replay FILE --rates FILE.rates.json finds
  -h, --help           this text

Exit status: 0 when the report is printed and every fault the served functions detect was found;
1 otherwise (gcloud missing, a function failed, the pipeline did not go quiet, a mismatch).
`;

const REPLAY_HINT = 'npm run demo:ndjson -- demo.ndjson && npm run replay -- demo.ndjson --rates demo.rates.json';

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      keep: { type: 'boolean', default: false },
      seed: { type: 'string' },
      project: { type: 'string' },
      'state-store': { type: 'string' },
      timeout: { type: 'string' },
      json: { type: 'string' },
      html: { type: 'string' },
      verbose: { type: 'boolean', default: false },
      'write-demo': { type: 'string' },
      log: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const number = (text: string | undefined, name: string, fallback: number) => {
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isInteger(n) || n <= 0) throw new StackError(`--${name} must be a positive whole number`);
    return n;
  };
  const options: StackOptions = {
    ...DEFAULT_OPTIONS,
    keep: values.keep,
    seed: number(values.seed, 'seed', DEFAULT_OPTIONS.seed),
    projectId: values.project ?? DEFAULT_OPTIONS.projectId,
    timeoutMs: number(values.timeout, 'timeout', DEFAULT_OPTIONS.timeoutMs / 1000) * 1000,
    ...(values.json ? { jsonPath: values.json } : {}),
    ...(values.html ? { htmlPath: values.html } : {}),
    verbose: values.verbose,
    ...(values['state-store'] !== undefined ? { stateStore: parseStateStore(values['state-store']) } : {}),
  };
  if (values['write-demo'] !== undefined) {
    const demo = buildDemo({ now: Date.now(), seed: options.seed });
    const paths = writeDemoFiles(demo, values['write-demo']);
    process.stdout.write(
      `wrote ${demo.messages.length} events to ${paths.events}, rates to ${paths.rates}, the ${demo.faults.length} injected faults to ${paths.faults}\n` +
        `replay it: npm run replay -- ${paths.events} --rates ${paths.rates} --now ${new Date(demo.now).toISOString()}\n`,
    );
    return 0;
  }
  if (!onPath('gcloud')) {
    process.stderr.write(`event-recovery: the local stack needs the Google Cloud CLI (gcloud) for its emulators and it is not on PATH; run the demo embedded instead: ${REPLAY_HINT}\n`);
    return 1;
  }
  if (values.log !== undefined) return runDevWithWorld({ ...options, keep: true }, readLogWorld(values.log), values.log);
  return runStack(options);
}

export function parseStateStore(text: string): StateStore {
  if (text === 'bigtable' || text === 'firestore') return text;
  throw new StackError(`--state-store must be bigtable or firestore, not ${text}`);
}

/** The stand-ins' world of a log: its rates file (required) and its world file, or what the log itself reports. */
function readLogWorld(log: string) {
  const rates = ratesPath(log);
  if (!existsSync(log)) throw new StackError(`--log ${log}: no such file`);
  if (!existsSync(rates)) throw new StackError(`--log ${log}: its rates ${rates} are missing (event-recovery generate --out writes them beside the log)`);
  const parsedRates = RatesFile.safeParse(JSON.parse(readFileSync(rates, 'utf8')));
  if (!parsedRates.success) throw new StackError(`--log ${log}: ${rates} is not a rates file: ${parsedRates.error.issues[0]?.message ?? ''}`);
  const derived = worldOfLog(readFileSync(log, 'utf8').split('\n'), parsedRates.data);
  const path = worldPath(log);
  if (!existsSync(path)) return derived;
  const kept = JSON.parse(readFileSync(path, 'utf8')) as { calls?: typeof derived.calls; paymentIntents?: typeof derived.paymentIntents; crmRecords?: typeof derived.crmRecords };
  return {
    rates: parsedRates.data,
    calls: kept.calls ?? derived.calls,
    paymentIntents: kept.paymentIntents ?? derived.paymentIntents,
    crmRecords: kept.crmRecords ?? derived.crmRecords,
  };
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      const usage = err instanceof StackError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
      process.stderr.write(`event-recovery: ${usage ? (err as Error).message : ((err as Error).stack ?? String(err))}\n`);
      process.exit(usage ? 2 : 1);
    },
  );
}
