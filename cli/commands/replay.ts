import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { createReadStream, type ReadStream } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { createGunzip } from 'node:zlib';
import { z } from 'zod';
import { DEFAULT_DEDUP_CONFIG } from '../../functions/deduplicator/core';
import { DEFAULT_GAP_RULES, type GapRules } from '../../functions/gap-detector/core';
import { DEFAULT_REVIEW_FACTOR } from '../../functions/revenue-checker/core';
import { parseRfc3339 } from '../../shared/events/time';
import { RatesFile } from '../../shared/rates/file';
import { FINDING_KINDS, type FindingKind } from '../../shared/findings';
import { OUTPUT_FILES, ReplayStopped, runReplay, type ReplayInput, type RunSummary } from '../replay/run';
import { AtomicFile, checkOutFile, OutputPathError } from '../replay/output';
import { renderReportPage } from '../replay/html';
import { PageCollector } from '../replay/page-data';
import { progressReporter } from '../replay/progress';
import { DEFAULT_VOLUME_CONFIG, type VolumeConfig } from '../../shared/volume/detector';
import { defaultWorkers } from '../replay/pool';
import { DEFAULT_MAX_IN_FLIGHT } from '../replay/checker-stages';
import { ConfigError } from '../../shared/errors';
import { describeIoError, isIoError, UsageError } from '../usage';
import { packageVersion } from '../version';

export const USAGE = `Usage: event-recovery replay <events.ndjson[.gz] | -> [more inputs...] [options]

Replays an event log through the event-recovery rules in one process (no emulator, no network
unless Stripe or Twilio credentials are configured) and writes what it found.

Input: one CloudEvent JSON per line, in arrival order ("-" reads standard input). A line that is
not a valid event becomes an "invalid" finding; it never stops the run. Several inputs are read
one after the other as one log (line numbers run on across them); gzip files are unpacked.

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
  --max-sequence-jump N  a sequence number more than N from every number seen from its source is
                         one sequence_jump finding (a reset or a bad number), not the edge of a
                         gap (default: ${DEFAULT_GAP_RULES.maxSequenceJump})
  --json                 the summary as JSON on standard output (the human report goes to stderr)
  --fail-on KIND[,KIND]  exit 1 when a finding of one of these kinds is found ("any": any finding);
                         kinds: ${FINDING_KINDS.join(', ')}
  --html FILE            also write a self-contained report page (no network needed to view it)
  --progress             progress on stderr even when it is not a terminal (CI logs)
  --volume-sigmas N      volume anomalies: how many standard deviations (baseline spread and
                         counting noise) an hour may stray before it is flagged; lower flags
                         more (default: ${DEFAULT_VOLUME_CONFIG.sigmas})
  --volume-min-change P  volume anomalies: the least change, in percent of the baseline, ever
                         flagged (default: ${DEFAULT_VOLUME_CONFIG.minRelativeChange * 100})
  --volume-min-days N    volume anomalies: judge an hour only with at least N previous days of
                         the same kind (weekday or weekend) to compare it with (default: ${DEFAULT_VOLUME_CONFIG.minHistoryDays})
  --workers N            threads that validate and key lines beside the main one, which keeps
                         the order-dependent work (default: ${defaultWorkers()}: one with 2 or more cores,
                         0 on one core, which does everything on the main thread); the outputs are the same
  --max-in-flight N      Stripe, Twilio and CRM lookups pending at once (default: ${DEFAULT_MAX_IN_FLIGHT}); each API's
                         rate limit (STRIPE_MAX_RPS, TWILIO_MAX_RPS, HUBSPOT_MAX_RPS,
                         SALESFORCE_MAX_RPS) still holds; 1 waits for
                         each answer before the next line; the outputs are the same
  --quiet                no progress on stderr
  --version              the version
  -h, --help             this text

Writes DIR/${OUTPUT_FILES.findings} (one finding a line), DIR/${OUTPUT_FILES.events} (accepted events in input
order, then correction events) and DIR/${OUTPUT_FILES.summary}, each under a temporary name
renamed into place when the run completes; an interrupted run leaves only *.partial files.

Exit status: 0 when the run completed (findings are not errors); 1 when --fail-on matched, or the
run failed; 2 for bad usage or unreadable input, with one line on stderr; 130 when interrupted.

Stripe and Twilio checks run when STRIPE_API_KEY, or TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN,
are set in the environment; the CRM check of crm.synced when HUBSPOT_ACCESS_TOKEN and
HUBSPOT_API_BASE, or SALESFORCE_INSTANCE_URL and SALESFORCE_ACCESS_TOKEN, are (replay never
writes to a CRM).
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
      'max-sequence-jump': { type: 'string' },
      'volume-sigmas': { type: 'string' },
      'volume-min-change': { type: 'string' },
      'volume-min-days': { type: 'string' },
      workers: { type: 'string' },
      'max-in-flight': { type: 'string' },
      quiet: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      'fail-on': { type: 'string' },
      html: { type: 'string' },
      progress: { type: 'boolean', default: false },
      version: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  if (positionals.length === 0) throw new UsageError('missing input: a file name, or - for standard input');
  if (positionals.filter((p) => p === '-').length > 1) throw new UsageError('standard input (-) can be read only once');
  if (values.quiet && values.progress) throw new UsageError('--quiet and --progress contradict each other');
  const failOn = values['fail-on'] === undefined ? undefined : parseFailOn(values['fail-on']);
  const now = values.now === undefined ? Date.now() : parseNow(values.now);
  const windowHours = values['window-hours'] === undefined ? undefined : PositiveNumber.safeParse(values['window-hours']);
  if (windowHours && !windowHours.success) throw new UsageError('--window-hours must be a positive number');
  const reviewFactor = values['review-factor'] === undefined ? undefined : z.coerce.number().min(1).safeParse(values['review-factor']);
  if (reviewFactor && !reviewFactor.success) throw new UsageError('--review-factor must be a number of at least 1');
  const workers = values.workers === undefined ? defaultWorkers() : z.coerce.number().int().min(0).max(64).safeParse(values.workers);
  if (typeof workers !== 'number' && !workers.success) throw new UsageError('--workers must be a whole number from 0 to 64');
  const maxInFlight = z.coerce.number().int().min(1).max(1024).safeParse(values['max-in-flight'] ?? DEFAULT_MAX_IN_FLIGHT);
  if (!maxInFlight.success) throw new UsageError('--max-in-flight must be a whole number from 1 to 1024');
  const gapRules = parseGapRules(values['grace-minutes'], values['chain-deadlines'], values['max-sequence-jump']);
  const volume = parseVolume(values['volume-sigmas'], values['volume-min-change'], values['volume-min-days']);
  const rates = values.rates === undefined ? undefined : loadRates(values.rates);
  const opened = positionals.map(openInput);
  const outDir = values.out ?? 'replay-out';
  if (values.html !== undefined) usageOnPathError(() => checkOutFile(values.html!));

  // Human text goes to stdout, or to stderr when stdout carries the JSON summary.
  const say = (text: string) => (values.json ? process.stderr : process.stdout).write(text);
  const progress = progressReporter({
    mode: values.quiet ? 'never' : values.progress ? 'always' : 'auto',
    tty: process.stderr.isTTY === true,
    write: (text) => process.stderr.write(text),
    sizes: () => inputSizes(opened),
  });
  const abort = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    // A second Ctrl-C stops at once.
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    interruptedBy = signal;
    abort.abort();
  };
  let interruptedBy: NodeJS.Signals | undefined;
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const page = values.html === undefined ? undefined : new PageCollector();
  let summary: RunSummary;
  try {
    summary = await runReplay({
    ...(page ? { observers: [page], tap: page } : {}),
    input: opened.map(({ name, stream }) => ({ name, stream })),
    outDir,
    now,
    ...(rates ? { rates } : {}),
    ...(windowHours ? { dedup: { ...DEFAULT_DEDUP_CONFIG, windowMs: windowHours.data * 3_600_000 } } : {}),
    ...(reviewFactor ? { reviewFactor: reviewFactor.data } : {}),
    ...(gapRules ? { gapRules } : {}),
    ...(volume ? { volume } : {}),
    workers: typeof workers === 'number' ? workers : workers.data,
    maxInFlight: maxInFlight.data,
    progress: progress.update,
    warn: (message) => {
      progress.done();
      process.stderr.write(`replay: warning: ${message}\n`);
    },
    signal: abort.signal,
  });
  } catch (err) {
    progress.done();
    if (err instanceof OutputPathError) throw new UsageError(err.message);
    if (!(err instanceof ReplayStopped)) throw err;
    const where = `after ${err.lines.toLocaleString('en-US')} lines (${progress.where()})`;
    const partial = err.partialFiles.length > 0 ? `; partial outputs: ${err.partialFiles.join(', ')}` : '';
    if (err.why === 'interrupted') {
      process.stderr.write(`replay: interrupted by ${interruptedBy ?? 'a signal'} ${where}: no complete outputs were written${partial}\n`);
      return interruptedBy === 'SIGTERM' ? 143 : 130;
    }
    const cause = err.cause;
    const unreadable = inputError(cause);
    if (unreadable) throw new UsageError(`${unreadable} ${where}${partial}`);
    // A configuration an upstream refused (a Stripe key of the wrong mode): one line, exit 2.
    if (cause instanceof ConfigError) throw new UsageError(`${cause.message} (stopped ${where}${partial})`);
    if (isIoError(cause)) {
      // A full disk, a quota, a folder made read-only meanwhile: one line naming the output, exit 2.
      throw new UsageError(`cannot write ${outputName(cause.path) ?? outDir}: ${describeIoError(cause)}`);
    }
    process.stderr.write(`replay: stopped by an error ${where}${partial}\n`);
    throw cause;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  progress.done();
  if (page && values.html !== undefined) {
    const html = new AtomicFile(values.html);
    const names = positionals.map((p) => (p === '-' ? 'standard input' : p)).join(', ');
    html.write(renderReportPage({ title: 'event-recovery replay', subtitle: `${names}, replayed ${new Date(now).toISOString()}`, summary, data: page.data() }));
    html.finish();
  }
  say(report(summary, outDir, values.html));
  if (values.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  if (failOn && failOn !== 'any') {
    // A gate on a kind whose check did not run passes whatever the input holds: say so.
    for (const kind of failOn) {
      const check = CHECK_OF_KIND[kind];
      const state = check ? summary.checks[check] : undefined;
      if (state?.startsWith('skipped')) process.stderr.write(`replay: warning: --fail-on ${kind} can never fire: the ${check} check was ${state}\n`);
    }
  }
  const matched = failOn ? failedKinds(summary, failOn) : [];
  if (matched.length > 0) {
    process.stderr.write(`replay: failing (--fail-on): found ${matched.map(([k, v]) => `${k} ${v.toLocaleString('en-US')}`).join(', ')}\n`);
    return 1;
  }
  return 0;
}

/** The finding kinds only a check with its own configuration can produce, by the summary's `checks` key. */
const CHECK_OF_KIND: Readonly<Record<string, string>> = { payment_mismatch: 'stripe', call_duration_mismatch: 'twilio', fx_mismatch: 'fx' };

/** `--fail-on KIND[,KIND…]`: finding kinds, or `any`. */
function parseFailOn(text: string): readonly string[] | 'any' {
  const kinds = text.split(',').map((k) => k.trim()).filter((k) => k !== '');
  if (kinds.length === 0) throw new UsageError('--fail-on needs one or more finding kinds, e.g. --fail-on gap,chain_broken');
  if (kinds.includes('any')) return 'any';
  const unknown = kinds.filter((k) => !FINDING_KINDS.includes(k as FindingKind));
  if (unknown.length > 0) throw new UsageError(`--fail-on: unknown kind "${unknown[0]}", expected any or ${FINDING_KINDS.join(', ')}`);
  return kinds;
}

function failedKinds(summary: RunSummary, failOn: readonly string[] | 'any'): Array<[string, number]> {
  return Object.entries(summary.findings_by_kind).filter(([kind, count]) => count > 0 && (failOn === 'any' || failOn.includes(kind)));
}

function usageOnPathError(check: () => void): void {
  try {
    check();
  } catch (err) {
    if (err instanceof OutputPathError) throw new UsageError(err.message);
    throw err;
  }
}

function parseGapRules(grace: string | undefined, deadlines: string | undefined, jump: string | undefined): GapRules | undefined {
  if (grace === undefined && deadlines === undefined && jump === undefined) return undefined;
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
  let maxSequenceJump = DEFAULT_GAP_RULES.maxSequenceJump;
  if (jump !== undefined) {
    const n = z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER).safeParse(jump);
    if (!n.success) throw new UsageError('--max-sequence-jump must be a whole number of at least 1');
    maxSequenceJump = n.data;
  }
  return { graceMs, chainDeadlinesMs, maxSequenceJump };
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

interface OpenedInput extends ReplayInput {
  /** The file as read from disk (before any gunzip), for progress; absent for standard input. */
  readonly raw?: ReadStream;
  readonly size?: number;
}

/** Opens one input: `-` is standard input; a file starting with the gzip magic bytes is unpacked. */
function openInput(path: string): OpenedInput {
  if (path === '-') return { name: '-', stream: process.stdin };
  let size: number;
  let gzip = false;
  try {
    const stat = statSync(path);
    if (stat.isDirectory()) throw Object.assign(new Error('directory'), { code: 'EISDIR' });
    size = stat.size;
    const fd = openSync(path, 'r');
    try {
      const magic = Buffer.alloc(2);
      gzip = readSync(fd, magic, 0, 2, 0) === 2 && magic[0] === 0x1f && magic[1] === 0x8b;
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    throw new UsageError(`cannot read input ${path}: ${describeIoError(err)}`);
  }
  const raw = createReadStream(path, { highWaterMark: 1 << 20 });
  const stream: Readable = gzip ? raw.pipe(createGunzip({ chunkSize: 1 << 20 })) : raw;
  if (gzip) raw.on('error', (err) => stream.destroy(err));
  return { name: path, stream, raw, size };
}

/** Bytes read of the files, when every input is a file (standard input has no known size). */
function inputSizes(inputs: readonly OpenedInput[]): { bytes: number; totalBytes: number } | undefined {
  if (inputs.some((i) => i.raw === undefined)) return undefined;
  return { bytes: inputs.reduce((sum, i) => sum + i.raw!.bytesRead, 0), totalBytes: inputs.reduce((sum, i) => sum + i.size!, 0) };
}

/** A read error of an input met during the run (a truncated gzip, an I/O error): bad input, exit 2. */
function inputError(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code !== 'string') return undefined;
  if (code.startsWith('Z_') || code === 'ERR_PADDING_1' || code === 'ERR_PADDING_2') return `cannot read input: not a valid gzip file (${(err as Error).message})`;
  if (code === 'EIO' || code === 'EISDIR') return `cannot read input: ${(err as Error).message}`;
  return undefined;
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


function report(s: RunSummary, outDir: string, html?: string): string {
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
    `wrote ${join(outDir, OUTPUT_FILES.findings)}, ${join(outDir, OUTPUT_FILES.events)}, ${join(outDir, OUTPUT_FILES.summary)}${html ? `, ${html}` : ''}`,
  ];
  return `${lines.join('\n')}\n`;
}

/** The output a temporary file stands for (`.events.ndjson.tmp` is events.ndjson). */
function outputName(path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  return join(dirname(path), basename(path).replace(/^\.(.*)\.tmp$/, '$1'));
}
