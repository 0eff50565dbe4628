/**
 * The lookups bench: `event-recovery replay` with Stripe and Twilio checks on, against the local
 * stand-ins answering each request in 20 ms, one lookup at a time (`--max-in-flight 1`) and
 * pipelined (the default). Prints the lookups per second each API saw, as a share of its
 * configured rate limit (STRIPE_MAX_RPS, TWILIO_MAX_RPS); the target is at least 80 %.
 *
 * The rate is the one the stand-in saw: requests after the first, over the time from the first
 * request to the last, so the replay's start-up (loading the SDKs, reading the log) is not in it.
 * Arrival jitter (the first request also opens the connection) can put it a little above the
 * limit; the busiest second shows what the API saw at its worst.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { FakeServer } from '../local/fakes/http';
import { startStripeFake } from '../local/fakes/stripe';
import { startTwilioFake } from '../local/fakes/twilio';
import { lookupWorld } from './lookup-world';

const execFileAsync = promisify(execFile);
const CLI = join(__dirname, '../../cli/event-recovery.js');

export interface LookupBenchOptions {
  /** Sales in the log (each a Stripe lookup); calls are half as many (each a Twilio lookup). */
  readonly sales: number;
  readonly latencyMs: number;
  readonly stripeRps: number;
  readonly twilioRps: number;
}

export const DEFAULT_LOOKUP_BENCH: LookupBenchOptions = { sales: 400, latencyMs: 20, stripeRps: 100, twilioRps: 50 };

interface Seen {
  readonly requests: number;
  readonly perSecond: number;
  /** The most requests that arrived within any one second. */
  readonly busiestSecond: number;
  readonly peakInFlight: number;
}

function seen(server: FakeServer): Seen {
  const at = server.requests.map((r) => r.at);
  const spanMs = at.length > 1 ? Math.max(...at) - Math.min(...at) : 0;
  const sorted = [...at].sort((a, b) => a - b);
  let busiestSecond = 0;
  for (let i = 0, j = 0; j < sorted.length; j++) {
    while (sorted[j]! - sorted[i]! >= 1000) i++;
    busiestSecond = Math.max(busiestSecond, j - i + 1);
  }
  return { requests: at.length, perSecond: spanMs > 0 ? ((at.length - 1) / spanMs) * 1000 : Number.NaN, busiestSecond, peakInFlight: server.peakInFlight };
}

async function pass(dir: string, input: string, options: LookupBenchOptions, args: string[]): Promise<{ stripe: Seen; twilio: Seen; wallMs: number }> {
  const w = lookupWorld({ sales: options.sales });
  const stripe = await startStripeFake(w.stripe, { latencyMs: options.latencyMs });
  const twilio = await startTwilioFake(w.twilio, { latencyMs: options.latencyMs });
  try {
    const env = {
      PATH: process.env.PATH ?? '',
      STRIPE_API_KEY: w.stripe.apiKey ?? '',
      STRIPE_API_BASE: stripe.url,
      STRIPE_MAX_RPS: String(options.stripeRps),
      TWILIO_ACCOUNT_SID: w.twilio.accountSid,
      TWILIO_AUTH_TOKEN: w.twilio.authToken,
      TWILIO_API_BASE: twilio.url,
      TWILIO_MAX_RPS: String(options.twilioRps),
    };
    const started = process.hrtime.bigint();
    await execFileAsync(process.execPath, [CLI, 'replay', input, '--out', join(dir, `out-${args.join('')}`), '--quiet', ...args], { env, maxBuffer: 1 << 20 });
    const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
    return { stripe: seen(stripe), twilio: seen(twilio), wallMs };
  } finally {
    await stripe.close();
    await twilio.close();
  }
}

/** Runs both passes over the same log and returns the lines to print. */
export async function benchLookups(options: LookupBenchOptions = DEFAULT_LOOKUP_BENCH): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'er-bench-lookups-'));
  try {
    const w = lookupWorld({ sales: options.sales });
    const input = join(dir, 'events.ndjson');
    writeFileSync(input, w.log);
    const sequential = await pass(dir, input, options, ['--max-in-flight', '1']);
    const pipelined = await pass(dir, input, options, []);
    const row = (name: string, p: Awaited<ReturnType<typeof pass>>) => {
      const api = (label: string, s: Seen, rps: number) =>
        `${label} ${s.perSecond.toFixed(1)}/s of ${rps}/s = ${((s.perSecond / rps) * 100).toFixed(0)} % (${s.requests} requests, at most ${s.busiestSecond} in any one second, ${s.peakInFlight} at once)`;
      return [`  ${name}: ${(p.wallMs / 1000).toFixed(2)} s wall`, `      ${api('Stripe', p.stripe, options.stripeRps)}`, `      ${api('Twilio', p.twilio, options.twilioRps)}`];
    };
    return [
      `lookups bench: ${w.sales} sales and ${w.calls} calls, the stand-ins answering in ${options.latencyMs} ms, STRIPE_MAX_RPS=${options.stripeRps} TWILIO_MAX_RPS=${options.twilioRps} (target ≥ 80 % of each rate pipelined)`,
      ...row('one at a time (--max-in-flight 1)', sequential),
      ...row('pipelined (default --max-in-flight)', pipelined),
      `  pipelined / one at a time: ${(sequential.wallMs / pipelined.wallMs).toFixed(2)}x faster (wall)`,
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  void benchLookups().then((lines) => process.stdout.write(`${lines.join('\n')}\n`));
}
