import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { isUtf8 } from '../../shared/events/utf8';
import { maskText } from '../../shared/mask';
import { ApiError, query, TriageClient } from '../dlq/client';
import { UsageError } from '../usage';

export const USAGE = `Usage: event-recovery dlq <command> [options]

Operates dlq-triage (dead letters, rejected events, findings held for review) through its HTTP API.

Commands:
  list                       records, oldest first: filters below, --limit N, --page-token T
  show ID                    one record: the original message, the failure, the fix, the history
  replay ID                  republish one record to the subscription that failed it (once)
  replay --all [filters]     bulk replay of the open records that match, at --rate N/s (default 50);
                             --dry-run counts first; Ctrl-C stops the job; --resume JOB continues one
  fix ID                     edit the event in $EDITOR (or --patch FILE: a JSON merge patch, RFC 7386,
                             applied to the CloudEvent itself, e.g. {"data":{"amount":3500}}, not to
                             the record), then replay it once it passes the event schemas; its id
                             and type stay as they are; --dry-run only validates
  discard ID --reason TEXT   close a record without replaying it
  stats [filters]            counts by class, state, subscription and type
  audit [--record ID]        operator actions: who, when, what, before/after

Filters: --class invalid|transient|poison|review (comma-separated; "review" is the queue of
findings held for review), --state open|replayed|fixed|discarded, --type T, --source S,
--subscription S, --older-than MIN, --newer-than MIN, --reason TEXT (text in the reason).

Connection: --url URL (or DLQ_API_URL; npm run dev prints it), --token TOKEN (or DLQ_API_TOKEN;
in GCP an ID token minted for the function's URL, which names you in the audit: see the README's
"Dead letters and triage"), --operator NAME (or DLQ_OPERATOR, default $USER, $LOGNAME, your login
name) names you in the audit locally.
Output: text for a person; --json prints the API's JSON (one object) for scripts.

Exit status: 0 done; 1 refused (already replayed or discarded, a fix that does not validate, a
publish that failed: the record stays open); 2 bad usage; 3 not authenticated (401/403);
4 no such record or job; 5 the API is unreachable or failed.
`;

const EXIT = { ok: 0, refused: 1, usage: 2, auth: 3, missing: 4, broken: 5 } as const;

interface Record_ {
  id: string;
  class: string;
  state: string;
  subscription: string;
  reason: string;
  received_at: string;
  event: { id?: string; type?: string; source?: string };
  delivery_count?: number;
  finding?: Record<string, unknown>;
}

const OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  operator: { type: 'string' },
  json: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  all: { type: 'boolean' },
  rate: { type: 'string' },
  resume: { type: 'string' },
  patch: { type: 'string' },
  reason: { type: 'string' },
  record: { type: 'string' },
  limit: { type: 'string' },
  'page-token': { type: 'string' },
  class: { type: 'string' },
  state: { type: 'string' },
  type: { type: 'string' },
  source: { type: 'string' },
  subscription: { type: 'string' },
  'older-than': { type: 'string' },
  'newer-than': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

export interface DlqIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
  readonly isTty: boolean;
  readonly fetch?: typeof fetch;
  /** The login name, when the environment names nobody. */
  readonly loginName?: () => string | undefined;
  /** Called with a stop function while a bulk replay runs (Ctrl-C). */
  readonly onInterrupt?: (stop: () => void) => () => void;
}

const defaultIo: DlqIo = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  env: process.env,
  isTty: process.stderr.isTTY === true,
  loginName: () => {
    try {
      return userInfo().username || undefined;
    } catch {
      return undefined; // no passwd entry for this uid (a container)
    }
  },
  onInterrupt: (stop) => {
    const handler = () => stop();
    process.once('SIGINT', handler);
    return () => process.off('SIGINT', handler);
  },
};

function filters(v: Values): Record<string, string | undefined> {
  return {
    class: v.class,
    state: v.state,
    type: v.type,
    source: v.source,
    subscription: v.subscription,
    older_than_minutes: v['older-than'],
    newer_than_minutes: v['newer-than'],
    q: v.reason,
  };
}

function filterBody(v: Values): Record<string, unknown> {
  const f = filters(v);
  const out: Record<string, unknown> = {};
  for (const [k, value] of Object.entries(f)) {
    if (value === undefined || k === 'state') continue;
    out[k] = k === 'class' ? value.split(',') : k.endsWith('_minutes') ? Number(value) : value;
  }
  return out;
}

function oneLine(r: Record_): string {
  const what = r.event.id ? `${r.event.id}${r.event.type ? ` (${r.event.type})` : ''}` : '(no event id)';
  return maskText(`${r.id}  ${r.class.padEnd(9)} ${r.state.padEnd(9)} ${(r.subscription || '-').padEnd(28)} ${what}: ${r.reason}`);
}

/** `event-recovery dlq`: returns the exit status; throws {@link UsageError} for bad usage. */
export async function dlqCommand(args: string[], io: DlqIo = defaultIo): Promise<number> {
  const { values: v, positionals } = parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
  const [command, id, ...extra] = positionals;
  if (v.help || command === undefined) {
    io.out(USAGE);
    return v.help ? EXIT.ok : EXIT.usage;
  }
  if (extra.length > 0) throw new UsageError(`dlq ${command}: unexpected argument "${extra[0]}"`);
  const url = v.url ?? io.env.DLQ_API_URL;
  if (!url) throw new UsageError('dlq: no API address: pass --url URL or set DLQ_API_URL');
  const token = v.token ?? io.env.DLQ_API_TOKEN;
  // Who the audit names (token mode; in GCP the verified token names you): $USER is unset in
  // many containers and CI runners, so the login name next.
  const operator = v.operator ?? io.env.DLQ_OPERATOR ?? io.env.USER ?? io.env.LOGNAME ?? io.env.USERNAME ?? io.loginName?.();
  const client = new TriageClient({ url, ...(token ? { token } : {}), ...(operator ? { operator } : {}), ...(io.fetch ? { fetch: io.fetch } : {}) });
  const needId = () => {
    if (!id) throw new UsageError(`dlq ${command}: which record? (dlq ${command} ID)`);
    return encodeURIComponent(id);
  };
  const json = (value: unknown) => io.out(`${JSON.stringify(value, null, 2)}\n`);

  /** The exit status of an API answer that is not a success, with its message on stderr. */
  const failed = (status: number, body: unknown): number => {
    const b = body as { error?: string; reason?: string; outcome?: string } | undefined;
    const message = b?.reason ?? b?.error ?? (typeof body === 'string' ? body : JSON.stringify(body));
    if (v.json) json(body ?? { status });
    io.err(`event-recovery dlq ${command}: ${status === 401 || status === 403 ? 'not authenticated (check --token / DLQ_API_TOKEN)' : maskText(String(message))}\n`);
    if (status === 401 || status === 403) return EXIT.auth;
    if (status === 404) return EXIT.missing;
    if (status === 400) return EXIT.usage;
    if (status === 409 || status === 422 || status === 502) return EXIT.refused;
    return EXIT.broken;
  };

  try {
    switch (command) {
      case 'list': {
        const { status, body } = await client.call<{ records: Record_[]; next_page_token?: string }>(
          'GET',
          `/v1/records${query({ ...filters(v), page_size: v.limit ?? 50, page_token: v['page-token'] })}`,
        );
        if (status !== 200) return failed(status, body);
        if (v.json) json(body);
        else {
          for (const r of body.records) io.out(`${oneLine(r)}\n`);
          io.out(`${body.records.length} record${body.records.length === 1 ? '' : 's'}${body.next_page_token ? `; more: --page-token ${body.next_page_token}` : ''}\n`);
        }
        return EXIT.ok;
      }
      case 'show': {
        const { status, body } = await client.call('GET', `/v1/records/${needId()}`);
        if (status !== 200) return failed(status, body);
        if (v.json) json(body);
        else io.out(`${maskText(JSON.stringify(decodeForDisplay(body), null, 2))}\n`);
        return EXIT.ok;
      }
      case 'replay': {
        if (v.all || v.resume) return await bulkReplay(client, v, io, json, failed);
        if (v['dry-run']) throw new UsageError('dlq replay ID: --dry-run applies to bulk replays (--all)');
        const { status, body } = await client.call<{ outcome: string; message_id?: string; record?: Record_ }>('POST', `/v1/records/${needId()}/replay`);
        if (status !== 200) return failed(status, body);
        if (v.json) json(body);
        else io.out(`replayed ${id} to ${body.record?.subscription} (message ${body.message_id})\n`);
        return EXIT.ok;
      }
      case 'fix': {
        const rid = needId();
        let payload: Record<string, unknown>;
        if (v.patch) {
          payload = { patch: readJson(v.patch) };
        } else {
          const shown = await client.call<{ original: { data: string } }>('GET', `/v1/records/${rid}`);
          if (shown.status !== 200) return failed(shown.status, shown.body);
          const edited = editInEditor(Buffer.from(shown.body.original.data, 'base64').toString('utf8'), io.env);
          if (edited === undefined) {
            io.err('event-recovery dlq fix: no change made; nothing published\n');
            return EXIT.refused;
          }
          payload = { event: edited };
        }
        const { status, body } = await client.call<{ outcome: string; reason?: string; errors?: Array<{ path: string; message: string }>; message_id?: string }>(
          'POST',
          `/v1/records/${rid}/fix`,
          { ...payload, ...(v['dry-run'] ? { dry_run: true } : {}) },
        );
        if (status !== 200) {
          if (!v.json && body?.errors) for (const e of body.errors) io.err(`  ${e.path || '(event)'}: ${maskText(e.message)}\n`);
          return failed(status, body);
        }
        if (v.json) json(body);
        else io.out(v['dry-run'] ? `the fix of ${id} is valid; nothing published (--dry-run)\n` : `fixed ${id} and replayed it (message ${body.message_id})\n`);
        return EXIT.ok;
      }
      case 'discard': {
        if (!v.reason) throw new UsageError('dlq discard ID --reason TEXT: say why');
        const { status, body } = await client.call('POST', `/v1/records/${needId()}/discard`, { reason: v.reason });
        if (status !== 200) return failed(status, body);
        if (v.json) json(body);
        else io.out(`discarded ${id}\n`);
        return EXIT.ok;
      }
      case 'stats': {
        const { status, body } = await client.call<Record<string, Record<string, number> | number>>('GET', `/v1/stats${query(filters(v))}`);
        if (status !== 200) return failed(status, body);
        if (v.json) json(body);
        else {
          io.out(`${body.total} records\n`);
          for (const key of ['by_class', 'by_state', 'by_subscription', 'by_type']) {
            const counts = Object.entries(body[key] as Record<string, number>).sort((a, b) => b[1] - a[1]);
            io.out(`  ${key.slice(3).padEnd(13)} ${counts.map(([k, n]) => `${k} ${n}`).join(', ') || '-'}\n`);
          }
        }
        return EXIT.ok;
      }
      case 'audit': {
        const { status, body } = await client.call<{ entries: Array<{ id: string; at: string; actor: string; action: string; outcome: string; record_id?: string; job_id?: string; detail?: string }>; next_page_token?: string }>(
          'GET',
          `/v1/audit${query({ record_id: v.record, page_size: v.limit ?? 100, page_token: v['page-token'] })}`,
        );
        if (status !== 200) return failed(status, body);
        if (v.json) json(body);
        else for (const e of body.entries) io.out(maskText(`${e.at}  ${e.actor}  ${e.action} ${e.outcome}  ${e.record_id ?? e.job_id ?? ''}  ${e.detail ?? ''}`).trimEnd() + '\n');
        return EXIT.ok;
      }
      default:
        throw new UsageError(`dlq: unknown command "${command}" (list, show, replay, fix, discard, stats, audit)`);
    }
  } catch (err) {
    if (err instanceof ApiError) {
      io.err(`event-recovery dlq ${command}: ${err.message}\n`);
      return EXIT.broken;
    }
    throw err;
  }
}

interface Job {
  id: string;
  state: 'running' | 'stopped' | 'done';
  total: number;
  published: number;
  skipped: number;
  failed: number;
  last_error?: string;
}

/** Seconds one run request of a bulk replay may take (the API allows up to 60). */
const SLICE_SECONDS = 20;

async function bulkReplay(client: TriageClient, v: Values, io: DlqIo, json: (x: unknown) => void, failed: (s: number, b: unknown) => number): Promise<number> {
  const rate = v.rate === undefined ? 50 : Number(v.rate);
  if (!(rate > 0 && rate <= 1000)) throw new UsageError('dlq replay --all: --rate must be a number of messages per second, 0 < N <= 1000');
  let job: Job;
  if (v.resume) {
    const got = await client.call<Job>('GET', `/v1/bulk-replays/${encodeURIComponent(v.resume)}`);
    if (got.status !== 200) return failed(got.status, got.body);
    job = got.body;
  } else {
    const body = { filter: filterBody(v), rate_per_second: rate, dry_run: v['dry-run'] === true };
    const started = await client.call<Job | { dry_run: true; count: number; by_subscription: Record<string, number> }>('POST', '/v1/bulk-replays', body);
    if (started.status !== 200 && started.status !== 201) return failed(started.status, started.body);
    if ('dry_run' in started.body) {
      if (v.json) json(started.body);
      else
        io.out(
          `would replay ${started.body.count} open record${started.body.count === 1 ? '' : 's'} at ${rate}/s${started.body.count ? ` (${Object.entries(started.body.by_subscription).map(([k, n]) => `${k} ${n}`).join(', ')})` : ''}; nothing published (--dry-run)\n`,
        );
      return EXIT.ok;
    }
    job = started.body;
  }
  let stopRequested = false;
  const release = io.onInterrupt?.(() => {
    stopRequested = true;
  });
  const t0 = Date.now();
  const draw = (j: Job, final = false) => {
    if (v.json) return;
    const done = j.published + j.skipped;
    const width = 30;
    const filled = j.total ? Math.min(width, Math.round((done / j.total) * width)) : width;
    const perSecond = (j.published * 1000) / Math.max(1, Date.now() - t0);
    const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${j.total}  published ${j.published}  skipped ${j.skipped}  failed ${j.failed}  ${perSecond.toFixed(1)}/s`;
    if (io.isTty) io.err(`\r${line}${final ? '\n' : ''}`);
    else if (final) io.err(`${line}\n`);
  };
  try {
    while (job.state === 'running') {
      if (stopRequested) {
        const stopped = await client.call<Job>('POST', `/v1/bulk-replays/${job.id}/stop`);
        if (stopped.status !== 200) return failed(stopped.status, stopped.body);
        job = stopped.body;
        break;
      }
      // Long slices keep the job at its rate (each slice ends by waiting for its replays in
      // flight); meanwhile the progress the job saves every half second is read for the bar,
      // and a stop is sent at once (the slice sees it within half a second).
      let sliceDone = false;
      const slice = client.call<Job>('POST', `/v1/bulk-replays/${job.id}/run`, { max_seconds: SLICE_SECONDS }).finally(() => (sliceDone = true));
      let stopSent = false;
      while (!sliceDone) {
        await Promise.race([slice.catch(() => undefined), new Promise((r) => setTimeout(r, 500))]);
        if (sliceDone) break;
        if (stopRequested && !stopSent) {
          stopSent = true;
          await client.call<Job>('POST', `/v1/bulk-replays/${job.id}/stop`);
          continue;
        }
        const seen = await client.call<Job>('GET', `/v1/bulk-replays/${job.id}`);
        if (seen.status === 200 && !sliceDone) draw(seen.body);
      }
      const ran = await slice;
      if (ran.status !== 200) return failed(ran.status, ran.body);
      const before = job;
      job = ran.body;
      draw(job);
      if (job.state === 'running' && job.failed > before.failed) {
        // Publishing fails: pause, the records stay open and the next slice retries them.
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  } finally {
    release?.();
  }
  draw(job, true);
  if (v.json) json(job);
  else if (job.state === 'stopped') io.out(`stopped job ${job.id}: ${job.published} replayed; the rest stay open\n`);
  else io.out(`job ${job.id} done: ${job.published} replayed, ${job.skipped} skipped${job.failed ? `, ${job.failed} failed attempts (retried)` : ''}\n`);
  return job.state === 'done' ? EXIT.ok : EXIT.refused;
}

function readJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`dlq fix: cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new UsageError(`dlq fix: ${path} is not JSON (a JSON merge patch, RFC 7386)`);
  }
}

/** Opens the payload in $EDITOR; the edited JSON, or undefined when unchanged. */
function editInEditor(original: string, env: NodeJS.ProcessEnv): Record<string, unknown> | undefined {
  const editor = env.VISUAL ?? env.EDITOR;
  if (!editor) throw new UsageError('dlq fix: set $EDITOR, or pass --patch FILE (a JSON merge patch)');
  let pretty = original;
  try {
    pretty = JSON.stringify(JSON.parse(original), null, 2);
  } catch {
    // not JSON: edited as it is
  }
  const dir = mkdtempSync(join(tmpdir(), 'dlq-fix-'));
  const file = join(dir, 'event.json');
  try {
    writeFileSync(file, `${pretty}\n`);
    const run = spawnSync(`${editor} "${file}"`, { stdio: 'inherit', shell: true });
    if (run.status !== 0) throw new UsageError(`dlq fix: the editor exited with status ${run.status}`);
    const edited = readFileSync(file, 'utf8');
    if (edited.trim() === pretty.trim()) return undefined;
    try {
      const value: unknown = JSON.parse(edited);
      if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not an object');
      return value as Record<string, unknown>;
    } catch {
      throw new UsageError('dlq fix: the edited event is not a JSON object; nothing published');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A record with its base64 payloads shown as the JSON (or text) they hold, for a person; that
 * includes the rejected bytes inside the events-invalid envelope of an event that failed validation (`message.data`).
 * Bytes that are not UTF-8 stay base64.
 */
function decodeForDisplay(record: unknown): unknown {
  const r = record as Record<string, unknown>;
  const decode = (m: unknown): unknown => {
    const x = m as { data?: unknown } | undefined;
    if (typeof x?.data !== 'string' || x.data === '') return m;
    const bytes = Buffer.from(x.data, 'base64');
    if (!isUtf8(bytes)) return m;
    const text = bytes.toString('utf8');
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      return { ...x, data: text };
    }
    const envelope = data as { message?: unknown } | null;
    return { ...x, data: envelope !== null && typeof envelope === 'object' && 'message' in envelope ? { ...envelope, message: decode(envelope.message) } : data };
  };
  return { ...r, received: decode(r.received), original: decode(r.original), ...(r.fix ? { fix: decode(r.fix) } : {}) };
}
