import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { DEFAULT_DEDUP_CONFIG } from '../../functions/deduplicator/core';
import { DEFAULT_GAP_RULES, type GapRules } from '../../functions/gap-detector/core';
import { DEFAULT_REVIEW_FACTOR } from '../../functions/revenue-checker/core';
import { parseRfc3339 } from '../../shared/events/time';
import { RatesFile } from '../../shared/rates/file';
import { DEFAULT_VOLUME_CONFIG, type VolumeConfig } from '../../shared/volume/detector';
import { OUTPUT_FILES, runReplay } from '../replay/run';
import { defaultWorkers } from '../replay/pool';
import type { ReplaySummary } from '../replay/engine';
import { describeIoError, UsageError } from '../usage';

export const USAGE = `Usage: event-recovery replay <events.ndjson | -> [options]

Replays an event log through the event-recovery rules in one process (no emulator, no network
unless Stripe or Twilio credentials are configured) and writes what it found.

Input: one CloudEvent JSON per line, in arrival order ("-" reads standard input). A line that is
not a valid event becomes an "invalid" finding; it never stops the run.

Options:
  --rates FILE           exchange rates {"base":"USD","days":{"YYYY-MM-DD":{"EUR":0.92,...}}};
                         without it FX checks are skipped and summary.json says so
  --out DIR              output folder (default: ./replay-out), created if missing
  --now TIME             the checking clock for the "time not in the future" rule, RFC 3339
                         (default: the current time)
  --window-hours N       duplicate window (default: ${DEFAULT_DEDUP_CONFIG.windowMs / 3_600_000})
  --review-factor N      hold a correction for review when it moves amount_usd by more than
                         this factor, either way (default: ${DEFAULT_REVIEW_FACTOR}; at least 1)
  --grace-minutes N      how long a sequence gap may stay open (event time) before it is
                         reported (default: ${DEFAULT_GAP_RULES.graceMs / 60_000})
  --chain-deadlines A,B,C  minutes (event time) a card.scanned waits for its lead.created, a
                         lead.created for its crm.synced, a crm.synced for its followup.sent
                         (default: ${Object.values(DEFAULT_GAP_RULES.chainDeadlinesMs).map((ms) => ms / 60_000).join(',')})
  --volume-sigmas N      volume anomalies: how many standard deviations (baseline spread and
                         counting noise) an hour may stray before it is flagged; lower flags
                         more (default: ${DEFAULT_VOLUME_CONFIG.sigmas})
  --volume-min-change P  volume anomalies: the least change, in percent of the baseline, ever
                         flagged (default: ${DEFAULT_VOLUME_CONFIG.minRelativeChange * 100})
  --volume-min-days N    volume anomalies: judge an hour only with at least N previous days of
                         the same kind (weekday or weekend) to compare it with (default: ${DEFAULT_VOLUME_CONFIG.minHistoryDays})
  --workers N            threads that validate and key lines beside the main one, which keeps
                         the order-dependent work (default: ${defaultWorkers()}, the cores but one;
                         0 does everything on the main thread); the outputs are the same
  --quiet                no progress on stderr
  -h, --help             this text

Writes DIR/${OUTPUT_FILES.findings} (one finding a line), DIR/${OUTPUT_FILES.events} (accepted events in input
order, then correction events) and DIR/${OUTPUT_FILES.summary}.

Exit status: 0 when the run completed (findings are not errors); 2 for bad usage or unreadable
input, with one line on stderr.

Stripe and Twilio checks run when STRIPE_API_KEY, or TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN,
are set in the environment.
`;

const PositiveNumber = z.coerce.number().positive();

/** `event-recovery replay`: returns the exit status; throws {@link UsageError} for bad usage. */
export async function replayCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      rates: { type: 'string' },
      out: { type: 'string' },
      now: { type: 'string' },
      'window-hours': { type: 'string' },
      'review-factor': { type: 'string' },
      'grace-minutes': { type: 'string' },
      'chain-deadlines': { type: 'string' },
      'volume-sigmas': { type: 'string' },
      'volume-min-change': { type: 'string' },
      'volume-min-days': { type: 'string' },
      workers: { type: 'string' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new UsageError(positionals.length === 0 ? 'missing input: a file name, or - for standard input' : `expected one input, got ${positionals.length}`);
  }
  const inputPath = positionals[0]!;
  const now = values.now === undefined ? Date.now() : parseNow(values.now);
  const windowHours = values['window-hours'] === undefined ? undefined : PositiveNumber.safeParse(values['window-hours']);
  if (windowHours && !windowHours.success) throw new UsageError('--window-hours must be a positive number');
  const reviewFactor = values['review-factor'] === undefined ? undefined : z.coerce.number().min(1).safeParse(values['review-factor']);
  if (reviewFactor && !reviewFactor.success) throw new UsageError('--review-factor must be a number of at least 1');
  const workers = values.workers === undefined ? defaultWorkers() : z.coerce.number().int().min(0).max(64).safeParse(values.workers);
  if (typeof workers !== 'number' && !workers.success) throw new UsageError('--workers must be a whole number from 0 to 64');
  const gapRules = parseGapRules(values['grace-minutes'], values['chain-deadlines']);
  const volume = parseVolume(values['volume-sigmas'], values['volume-min-change'], values['volume-min-days']);
  const rates = values.rates === undefined ? undefined : loadRates(values.rates);
  const input = inputPath === '-' ? process.stdin : openInput(inputPath);
  const outDir = values.out ?? 'replay-out';

  const progress = progressReporter(values.quiet);
  const summary = await runReplay({
    input,
    outDir,
    now,
    ...(rates ? { rates } : {}),
    ...(windowHours ? { dedup: { ...DEFAULT_DEDUP_CONFIG, windowMs: windowHours.data * 3_600_000 } } : {}),
    ...(reviewFactor ? { reviewFactor: reviewFactor.data } : {}),
    ...(gapRules ? { gapRules } : {}),
    ...(volume ? { volume } : {}),
    workers: typeof workers === 'number' ? workers : workers.data,
    progress: progress.update,
  });
  progress.done();
  process.stdout.write(report(summary, outDir));
  return 0;
}

function parseGapRules(grace: string | undefined, deadlines: string | undefined): GapRules | undefined {
  if (grace === undefined && deadlines === undefined) return undefined;
  let graceMs = DEFAULT_GAP_RULES.graceMs;
  if (grace !== undefined) {
    const minutes = PositiveNumber.safeParse(grace);
    if (!minutes.success) throw new UsageError('--grace-minutes must be a positive number');
    graceMs = minutes.data * 60_000;
  }
  let chainDeadlinesMs = DEFAULT_GAP_RULES.chainDeadlinesMs;
  if (deadlines !== undefined) {
    const minutes = z.tuple([PositiveNumber, PositiveNumber, PositiveNumber]).safeParse(deadlines.split(','));
    if (!minutes.success) throw new UsageError('--chain-deadlines must be three positive numbers of minutes, e.g. 10,15,60');
    const [card, lead, crm] = minutes.data;
    chainDeadlinesMs = { 'card.scanned': card * 60_000, 'lead.created': lead * 60_000, 'crm.synced': crm * 60_000 };
  }
  return { graceMs, chainDeadlinesMs };
}

function parseVolume(sigmas: string | undefined, minChange: string | undefined, minDays: string | undefined): Partial<VolumeConfig> | undefined {
  const volume: { -readonly [K in keyof VolumeConfig]?: VolumeConfig[K] } = {};
  if (sigmas !== undefined) {
    const n = PositiveNumber.safeParse(sigmas);
    if (!n.success) throw new UsageError('--volume-sigmas must be a positive number');
    volume.sigmas = n.data;
  }
  if (minChange !== undefined) {
    const n = z.coerce.number().min(0).safeParse(minChange);
    if (!n.success) throw new UsageError('--volume-min-change must be a percentage of at least 0');
    volume.minRelativeChange = n.data / 100;
  }
  if (minDays !== undefined) {
    const n = z.coerce.number().int().min(1).max(DEFAULT_VOLUME_CONFIG.baselineDays).safeParse(minDays);
    if (!n.success) throw new UsageError(`--volume-min-days must be a whole number from 1 to ${DEFAULT_VOLUME_CONFIG.baselineDays}`);
    volume.minHistoryDays = n.data;
  }
  return Object.keys(volume).length > 0 ? volume : undefined;
}

function parseNow(text: string): number {
  const instant = parseRfc3339(text);
  if (!instant) throw new UsageError(`--now must be an RFC 3339 date-time with offset, got "${text}"`);
  return instant.ms;
}

function openInput(path: string) {
  let isFile: boolean;
  try {
    isFile = !statSync(path).isDirectory();
    closeSync(openSync(path, 'r'));
  } catch (err) {
    throw new UsageError(`cannot read input ${path}: ${describeIoError(err)}`);
  }
  if (!isFile) throw new UsageError(`cannot read input ${path}: it is a directory`);
  return createReadStream(path, { highWaterMark: 1 << 20 });
}

function loadRates(path: string): RatesFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read rates ${path}: ${describeIoError(err)}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`rates ${path} is not JSON: ${(err as Error).message}`);
  }
  const parsed = RatesFile.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UsageError(`rates ${path} at ${issue.path.join('.') || '(top)'}: ${issue.message}`);
  }
  return parsed.data;
}


function progressReporter(quiet: boolean) {
  const tty = process.stderr.isTTY === true;
  const every = tty ? 500 : 10_000;
  const start = Date.now();
  let last = start;
  let shown = false;
  return {
    update: (lines: number) => {
      if (quiet) return;
      const t = Date.now();
      if (t - last < every) return;
      last = t;
      shown = true;
      const rate = Math.round(lines / ((t - start) / 1000));
      const text = `replay: ${lines.toLocaleString('en-US')} lines read (${rate.toLocaleString('en-US')} lines/s)`;
      process.stderr.write(tty ? `\r${text}` : `${text}\n`);
    },
    done: () => {
      if (shown && tty) process.stderr.write('\n');
    },
  };
}

function report(s: ReplaySummary, outDir: string): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const kinds = Object.entries(s.findings_by_kind)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${n(v)}`)
    .join(', ');
  const lines = [
    `replay: ${n(s.lines)} lines: ${n(s.accepted)} accepted, ${n(s.invalid)} invalid, ${n(s.duplicates)} duplicates`,
    `findings: ${kinds || 'none'}`,
    `gaps: ${n(s.gaps)} (${n(s.missing_events)} missing events), chains broken: ${n(s.chains_broken)}, pending: ${n(s.pending)}`,
    `corrections: ${n(s.corrections)}, held for review: ${n(s.review)}, revenue (USD cents): recorded ${n(s.revenue_usd_cents.recorded)}, corrected ${n(s.revenue_usd_cents.corrected)}`,
    ...(s.volume
      ? [
          `volume: ${n(s.volume.hours_judged)} series-hours judged over ${n(s.volume.series_judged)} series, ${n(s.volume.hours_not_judged)} not judged (too little history), ${n(s.volume.anomalies)} anomalies`,
        ]
      : []),
    ...Object.entries(s.checks).map(([k, v]) => `${k} checks: ${v}`),
    `wrote ${join(outDir, OUTPUT_FILES.findings)}, ${join(outDir, OUTPUT_FILES.events)}, ${join(outDir, OUTPUT_FILES.summary)}`,
  ];
  return `${lines.join('\n')}\n`;
}

