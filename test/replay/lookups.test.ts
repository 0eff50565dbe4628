import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { checkerStages } from '../../cli/replay/checker-stages';
import { gapDetectorStage } from '../../cli/replay/gap-detector-stage';
import { OrderedOutput } from '../../cli/replay/ordered-output';
import { ReplayStopped } from '../../cli/replay/run';
import { DEFAULT_GAP_RULES } from '../../functions/gap-detector/core';
import { UpstreamConfigError } from '../../shared/adapters/upstream-error';
import { realSleep } from '../../shared/adapters/rate-limiter';
import type { FakeServer } from '../../tools/local/fakes/http';
import { startStripeFake } from '../../tools/local/fakes/stripe';
import { startTwilioFake } from '../../tools/local/fakes/twilio';
import { lookupWorld, type LookupWorld } from '../../tools/bench/lookup-world';
import { ndjson, saleRecorded } from '../support/events';
import { PageCollector } from '../../cli/replay/page-data';
import { REPLAY_NOW, replayText } from '../support/replay';

const execFileAsync = promisify(execFile);
const CLI = resolve(__dirname, '../../dist/cli/event-recovery.js');
const at = (i: number) => new Date(Date.parse('2026-03-01T08:00:00Z') + i * 1000).toISOString();

/** Answers take 1-16 ms, varying by resource, so that lookups in flight finish out of order. */
const jitter = (path: string) => 1 + ([...path].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7) % 16);

interface StandIns {
  stripe: FakeServer;
  twilio: FakeServer;
  env: NodeJS.ProcessEnv;
}

async function withStandIns<T>(w: LookupWorld, limits: { stripeRps: number; twilioRps: number; burst: number }, fn: (s: StandIns) => Promise<T>): Promise<T> {
  const stripe = await startStripeFake(w.stripe, { latencyMs: jitter });
  const twilio = await startTwilioFake(w.twilio, { latencyMs: jitter });
  const env = {
    STRIPE_API_KEY: w.stripe.apiKey,
    STRIPE_API_BASE: stripe.url,
    STRIPE_MAX_RPS: String(limits.stripeRps),
    STRIPE_BURST: String(limits.burst),
    TWILIO_ACCOUNT_SID: w.twilio.accountSid,
    TWILIO_AUTH_TOKEN: w.twilio.authToken,
    TWILIO_API_BASE: twilio.url,
    TWILIO_MAX_RPS: String(limits.twilioRps),
    TWILIO_BURST: String(limits.burst),
  };
  try {
    return await fn({ stripe, twilio, env });
  } finally {
    await stripe.close();
    await twilio.close();
  }
}

const FAST_RETRY = { attempts: 5, baseDelayMs: 5, maxDelayMs: 50, sleep: realSleep };
const OUTPUTS = ['findings.ndjson', 'events.ndjson', 'summary.json'] as const;
const bytes = (dir: string) => Object.fromEntries(OUTPUTS.map((f) => [f, readFileSync(join(dir, f), 'utf8')]));

describe('replay with Stripe and Twilio lookups in flight', () => {
  const w = lookupWorld({ sales: 60, faults: true, noise: true });
  const generous = { stripeRps: 10_000, twilioRps: 10_000, burst: 1000 };

  async function run(maxInFlight: number) {
    return withStandIns(w, generous, async ({ stripe, twilio, env }) => {
      const stages = [gapDetectorStage(DEFAULT_GAP_RULES), ...checkerStages({ now: REPLAY_NOW, env }, FAST_RETRY)];
      const page = new PageCollector();
      const result = await replayText(w.log, { env, stages, maxInFlight, observers: [page], tap: page });
      const pageData = JSON.stringify(page.data(), (_key, value: unknown) => (value instanceof Map ? [...value] : value));
      return { result, pageData, stripe: stripe.requests.length, twilio: twilio.requests.length, peak: Math.max(stripe.peakInFlight, twilio.peakInFlight) };
    });
  }

  it('writes byte for byte what one lookup at a time writes, transient faults retried', async () => {
    const one = await run(1);
    const many = await run(8);
    // The checks ran: every sale and call was looked up, and the faults were retried once each.
    const retried = 10 + 10; // a 500, or a 429, before the answer
    expect([one.stripe, one.twilio]).toEqual([w.sales + retried, w.calls]);
    expect([many.stripe, many.twilio]).toEqual([one.stripe, one.twilio]);
    expect(one.result.summary.findings_by_kind).toMatchObject({ payment_mismatch: expect.any(Number), call_duration_mismatch: expect.any(Number), duplicate: 5, invalid: 5 });
    expect(one.result.summary.corrections).toBeGreaterThan(0);
    expect(one.peak).toBe(1);
    expect(many.peak).toBeGreaterThan(1);
    expect(many.peak).toBeLessThanOrEqual(8);
    expect(bytes(many.result.dir)).toEqual(bytes(one.result.dir));
    // The report page sees each finding at the event time it would have seen one at a time.
    expect(many.pageData).toEqual(one.pageData);
  });

  it('event-recovery replay --max-in-flight: the same bytes with worker threads and the default, and says what it is in --help', async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build (npm ci does it)`);
    const clean = lookupWorld({ sales: 40, noise: true });
    const dir = mkdtempSync(join(tmpdir(), 'lookups-cli-'));
    const input = join(dir, 'in.ndjson');
    writeFileSync(input, clean.log);
    const cli = (out: string, args: string[]) =>
      withStandIns(clean, generous, async ({ env, stripe }) => {
        const r = await execFileAsync(process.execPath, [CLI, 'replay', input, '--out', join(dir, out), '--now', new Date(REPLAY_NOW).toISOString(), '--quiet', ...args], {
          env: { PATH: process.env.PATH, ...env },
        });
        expect(r.stderr).toBe('');
        return { out: bytes(join(dir, out)), peak: stripe.peakInFlight };
      });
    const one = await cli('one', ['--max-in-flight', '1', '--workers', '0']);
    const threaded = await cli('threaded', ['--max-in-flight', '8', '--workers', '1']);
    const byDefault = await cli('default', []);
    expect(one.peak).toBe(1);
    expect(threaded.peak).toBeGreaterThan(1);
    expect(JSON.parse(one.out['summary.json']!)).toMatchObject({ checks: { stripe: 'on', twilio: 'on' }, findings_by_kind: { payment_mismatch: expect.any(Number) } });
    expect(threaded.out).toEqual(one.out);
    expect(byDefault.out).toEqual(one.out);
    const help = await execFileAsync(process.execPath, [CLI, 'replay', '--help']);
    expect(help.stdout).toMatch(/--max-in-flight N +Stripe, Twilio and CRM lookups pending at once \(default: 32\)/);
    await expect(execFileAsync(process.execPath, [CLI, 'replay', input, '--max-in-flight', '0'])).rejects.toMatchObject({ code: 2, stderr: expect.stringMatching(/--max-in-flight must be a whole number from 1 to 1024/) });
  });

  it('takes a slot of the configured rate limit for every request, however many are in flight', async () => {
    // A clock that stands still: each request's wait for its slot is exactly its place in the
    // limiter's schedule, so the waits show that no request went outside it.
    const waits: number[] = [];
    const sleep = async (ms: number) => {
      waits.push(ms);
      await new Promise((resolve) => setImmediate(resolve));
    };
    const sales = ndjson(...Array.from({ length: 40 }, (_, i) => saleRecorded({ id: `s${i}`, time: at(i), data: { order_id: `o${i}`, payment_intent_id: 'pi_0' } })));
    const fixtures = { ...w, stripe: { ...w.stripe, paymentIntents: { pi_0: { amount: 3500, currency: 'usd', status: 'succeeded' } } } };
    await withStandIns(fixtures, { stripeRps: 50, twilioRps: 50, burst: 1 }, async ({ stripe, env }) => {
      const stages = checkerStages({ now: REPLAY_NOW, env }, { ...FAST_RETRY, sleep }, { now: () => REPLAY_NOW });
      await replayText(sales, { env, stages, maxInFlight: 8 });
      expect(stripe.requests).toHaveLength(40);
      expect(stripe.peakInFlight).toBeLessThanOrEqual(8);
    });
    // 50/s, burst 1: one request at once, then one every 20 ms of the schedule.
    expect([...waits].sort((a, b) => a - b)).toEqual(Array.from({ length: 39 }, (_, i) => 20 * (i + 1)));
  });

  it('stops at a Stripe key of the wrong mode as one lookup at a time does, leaving the same partial outputs', async () => {
    const mixed = lookupWorld({ sales: 30, noise: true });
    const live = { amount: 3500, currency: 'usd', status: 'succeeded', livemode: true };
    const fixtures = { ...mixed, stripe: { ...mixed.stripe, paymentIntents: { ...mixed.stripe.paymentIntents, pi_12: live } } };
    const stopped = async (maxInFlight: number) =>
      withStandIns(fixtures, generous, async ({ env }) => {
        const stages = [gapDetectorStage(DEFAULT_GAP_RULES), ...checkerStages({ now: REPLAY_NOW, env }, FAST_RETRY)];
        const err: unknown = await replayText(fixtures.log, { env, stages, maxInFlight }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(ReplayStopped);
        const cause = (err as ReplayStopped).cause;
        expect(cause).toBeInstanceOf(UpstreamConfigError);
        expect((cause as Error).message).toMatch(/STRIPE_API_KEY is a test mode key, but the PaymentIntent pi_12 exists in live mode/);
        const partial = (err as ReplayStopped).partialFiles.filter((f) => !f.endsWith('summary.json.partial'));
        expect(partial.length).toBeGreaterThan(0);
        return partial.map((f) => [f.replace(/.*\//, ''), existsSync(f) ? readFileSync(f, 'utf8') : '']);
      });
    const one = await stopped(1);
    const many = await stopped(8);
    expect(many).toEqual(one);
    expect(one.find(([name]) => name === 'findings.ndjson.partial')?.[1]).toMatch(/"line":/);
  });
});

describe('OrderedOutput', () => {
  const deferred = () => {
    let resolve!: (run: () => void) => void;
    let reject!: (err: unknown) => void;
    const promise = new Promise<() => void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
  const tick = () => new Promise((r) => setImmediate(r));

  it('writes in the order things were written or held, whatever order lookups settle in', async () => {
    const written: string[] = [];
    const o = new OrderedOutput({ maxInFlight: 10, maxBuffered: 100 });
    o.write(() => written.push('a'));
    const [x, y] = [deferred(), deferred()];
    o.hold(x.promise);
    o.write(() => written.push('b'));
    o.hold(y.promise);
    o.write(() => written.push('c'));
    y.resolve(() => written.push('y'));
    await tick();
    expect(written).toEqual(['a']);
    x.resolve(() => written.push('x'));
    await tick();
    expect(written).toEqual(['a', 'x', 'b', 'y', 'c']);
    o.write(() => written.push('d'));
    expect(written.at(-1)).toBe('d');
  });

  it('holds the input back at maxInFlight pending lookups, and at maxBuffered writes behind the oldest', async () => {
    const o = new OrderedOutput({ maxInFlight: 2, maxBuffered: 3 });
    const [x, y] = [deferred(), deferred()];
    o.hold(x.promise);
    expect(o.ready()).toBeUndefined();
    o.hold(y.promise);
    const wait = o.ready();
    expect(wait).toBeInstanceOf(Promise);
    let resumed = false;
    void wait!.then(() => (resumed = true));
    y.resolve(() => undefined);
    await tick();
    expect(resumed).toBe(true);
    o.write(() => undefined);
    o.write(() => undefined);
    expect(o.ready()).toBeInstanceOf(Promise); // x and three writes queued
  });

  it('fails with the first failed lookup in input order, once everything before it is written', async () => {
    const written: string[] = [];
    const o = new OrderedOutput({ maxInFlight: 10, maxBuffered: 100 });
    const [x, y] = [deferred(), deferred()];
    o.hold(x.promise);
    o.write(() => written.push('b'));
    o.hold(y.promise);
    y.reject(new Error('second'));
    await tick();
    expect(() => o.check()).not.toThrow();
    x.resolve(() => written.push('x'));
    await tick();
    expect(written).toEqual(['x', 'b']);
    expect(() => o.check()).toThrow('second');
    await expect(o.drain()).rejects.toThrow('second');
  });
});
