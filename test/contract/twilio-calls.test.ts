import { RateLimiter } from '../../shared/adapters/rate-limiter';
import { TwilioCalls } from '../../shared/adapters/twilio-calls';
import { UpstreamError } from '../../shared/adapters/upstream-error';
import type { FakeServer } from '../../tools/local/fakes/http';
import { startTwilioFake, type TwilioFixtures } from '../../tools/local/fakes/twilio';

const ACCOUNT = `AC${'a'.repeat(32)}`;
const TOKEN = 'local-auth-token-0123456789abcdef';
const sid = (n: number) => `CA${String(n).padStart(32, '0')}`;
const fixtures: TwilioFixtures = {
  accountSid: ACCOUNT,
  authToken: TOKEN,
  calls: {
    [sid(1)]: { status: 'completed', duration: 42 },
    [sid(2)]: { status: 'in-progress', duration: null },
    [sid(3)]: [{ fault: 'rate_limit', retryAfterSeconds: 3 }, { status: 'completed', duration: 5 }],
    [sid(4)]: { fault: 'server_error' },
    [sid(5)]: { fault: 'hang' },
    [sid(6)]: { status: 'busy', duration: 0 },
  },
};

describe('TwilioCalls: the real twilio SDK against a local stand-in', () => {
  let twilio: FakeServer;
  const now = 2_000_000;
  const sleeps: number[] = [];
  const clock = { now: () => now };
  const limiter = () => new RateLimiter({ name: 'twilio', ratePerSecond: 1000, clock, sleep: async (ms) => void sleeps.push(ms) });
  const client = (over: Partial<{ authToken: string; timeoutMs: number; apiBase: string }> = {}) =>
    new TwilioCalls({ accountSid: ACCOUNT, authToken: TOKEN, apiBase: twilio.url, timeoutMs: 5000, limiter: limiter(), clock, ...over });

  beforeAll(async () => {
    twilio = await startTwilioFake(fixtures);
  });
  afterAll(() => twilio.close());
  beforeEach(() => {
    twilio.requests.splice(0);
    sleeps.splice(0);
  });

  it('reads a Call; its duration (a string in the API) as whole seconds', async () => {
    await expect(client().call(sid(1))).resolves.toEqual({ kind: 'found', call: { sid: sid(1), status: 'completed', durationSeconds: 42 } });
    expect(twilio.requests).toEqual([expect.objectContaining({ method: 'GET', path: `/2010-04-01/Accounts/${ACCOUNT}/Calls/${sid(1)}.json`, authorized: true })]);
  });

  it('reads an empty duration as undefined', async () => {
    await expect(client().call(sid(2))).resolves.toEqual({ kind: 'found', call: { sid: sid(2), status: 'in-progress', durationSeconds: undefined } });
  });

  it('answers a 404 (20404) as a fact: Twilio does not know the call', async () => {
    await expect(client().call(sid(99))).resolves.toEqual({
      kind: 'not_found',
      reason: `Twilio: The requested resource /2010-04-01/Accounts/${ACCOUNT}/Calls/${sid(99)}.json was not found`,
    });
  });

  it('throws a 429 as transient with its Retry-After and pauses the limiter', async () => {
    const c = client();
    const err = await c.call(sid(3)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err).toMatchObject({ upstream: 'twilio', code: 'TWILIO_RATE_LIMITED', status: 429, retryAfterMs: 3000, message: 'twilio: 429 Too Many Requests' });
    await expect(c.call(sid(3))).resolves.toMatchObject({ kind: 'found', call: { durationSeconds: 5 } });
    expect(sleeps).toEqual([3000]);
    expect(twilio.requests).toHaveLength(2);
  });

  it('throws a 5xx as transient, once', async () => {
    await expect(client().call(sid(4))).rejects.toMatchObject({ code: 'TWILIO_UNAVAILABLE', status: 500 });
    expect(twilio.requests).toHaveLength(1);
  });

  it('throws refused credentials as transient without the token in the message', async () => {
    const err = await client({ authToken: 'wrong-token' }).call(sid(1)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TWILIO_AUTH', status: 401 });
    expect(String((err as Error).message)).not.toMatch(/wrong-token|local-auth-token/);
  });

  it('times out a hung request as transient', async () => {
    await expect(client({ timeoutMs: 200 }).call(sid(5))).rejects.toMatchObject({ code: 'TWILIO_UNREACHABLE', message: 'twilio: ECONNABORTED' });
  });

  it('reads a call that never connected', async () => {
    await expect(client().call(sid(6))).resolves.toEqual({ kind: 'found', call: { sid: sid(6), status: 'busy', durationSeconds: 0 } });
  });

  it('throws an unreachable API as transient', async () => {
    const closed = await startTwilioFake(fixtures);
    await closed.close();
    await expect(client({ apiBase: closed.url }).call(sid(1))).rejects.toMatchObject({ code: 'TWILIO_UNREACHABLE', message: 'twilio: ECONNREFUSED' });
  });
});
