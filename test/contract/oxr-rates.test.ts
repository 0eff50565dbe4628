import { OxrRates } from '../../shared/adapters/oxr-rates';
import { UpstreamError } from '../../shared/adapters/upstream-error';
import type { FakeServer } from '../../tools/local/fakes/http';
import { startOxrFake, type OxrFixtures } from '../../tools/local/fakes/openexchangerates';

const APP_ID = '0123456789abcdef0123456789abcdef';
const fixtures: OxrFixtures = {
  appId: APP_ID,
  days: {
    '2026-02-27': { EUR: 0.921, JPY: 150.1 },
    '2026-02-28': { EUR: 0.92, JPY: 151.3, KWD: 0.307 },
    '2026-03-01': { EUR: 0.93 },
    '2026-03-02': { EUR: 0.94 },
  },
  faults: {
    '2026-02-27': [{ fault: 'rate_limit', retryAfterSeconds: 30 }, 'rates'],
    '2026-02-26': { fault: 'server_error' },
    '2026-02-25': { fault: 'hang' },
  },
};

describe('OxrRates: the historical endpoint of a local OpenExchangeRates stand-in', () => {
  let oxr: FakeServer;
  let now = Date.parse('2026-03-01T12:00:00Z'); // 2026-03-01 is the open day
  const clock = { now: () => now };
  const client = (over: Partial<{ appId: string; timeoutMs: number }> = {}) =>
    new OxrRates({ appId: APP_ID, apiBase: oxr.url, timeoutMs: 5000, clock, openDayTtlMs: 3_600_000, ...over });

  beforeAll(async () => {
    oxr = await startOxrFake(fixtures);
  });
  afterAll(() => oxr.close());
  beforeEach(() => oxr.requests.splice(0));

  it('fetches a day once per instance, however many lookups, and keeps the app id out of the URL', async () => {
    const rates = client();
    const answers = await Promise.all([rates.rate('EUR', '2026-02-28'), rates.rate('JPY', '2026-02-28'), rates.rate('KWD', '2026-02-28')]);
    expect(answers).toEqual([
      { kind: 'rate', rate: 0.92 },
      { kind: 'rate', rate: 151.3 },
      { kind: 'rate', rate: 0.307 },
    ]);
    now += 48 * 3_600_000; // a closed day stays cached
    await expect(rates.rate('EUR', '2026-02-28')).resolves.toEqual({ kind: 'rate', rate: 0.92 });
    now -= 48 * 3_600_000;
    expect(oxr.requests).toEqual([{ method: 'GET', path: '/api/historical/2026-02-28.json', query: {}, authorized: true, at: expect.any(Number) }]);
  });

  it('answers USD at 1 without a request', async () => {
    await expect(client().rate('USD', '2026-02-28')).resolves.toEqual({ kind: 'rate', rate: 1 });
    expect(oxr.requests).toHaveLength(0);
  });

  it('reports a currency the day does not list as missing', async () => {
    await expect(client().rate('CHF', '2026-02-28')).resolves.toEqual({ kind: 'missing', reason: 'no exchange rate for CHF on 2026-02-28' });
  });

  it('reports a past day without rates (not_available) as missing, and asks again only after the TTL', async () => {
    const rates = client();
    const missing = { kind: 'missing', reason: 'no exchange rate for EUR on 1998-12-31: OpenExchangeRates has no rates for the day' };
    await expect(rates.rate('EUR', '1998-12-31')).resolves.toEqual(missing);
    await expect(rates.rate('EUR', '1998-12-31')).resolves.toEqual(missing);
    expect(oxr.requests).toHaveLength(1);
    now += 3_600_001;
    await expect(rates.rate('EUR', '1998-12-31')).resolves.toEqual(missing);
    now -= 3_600_001;
    expect(oxr.requests).toHaveLength(2);
  });

  it('throws a day not published yet (an event just past midnight) as transient, to ask again', async () => {
    const rates = client();
    await expect(rates.rate('EUR', '2026-03-05')).rejects.toMatchObject({ code: 'OXR_DAY_NOT_PUBLISHED', status: 400 });
    await expect(rates.rate('EUR', '2026-03-05')).rejects.toMatchObject({ code: 'OXR_DAY_NOT_PUBLISHED' });
    expect(oxr.requests).toHaveLength(2);
  });

  it('fetches the still open current day again after the TTL', async () => {
    const rates = client();
    await expect(rates.rate('EUR', '2026-03-01')).resolves.toEqual({ kind: 'rate', rate: 0.93 });
    await rates.rate('EUR', '2026-03-01');
    expect(oxr.requests).toHaveLength(1);
    now += 3_600_001;
    await rates.rate('EUR', '2026-03-01');
    now -= 3_600_001;
    expect(oxr.requests).toHaveLength(2);
  });

  it('throws a 429 as transient with its Retry-After and does not cache the failure', async () => {
    const rates = client();
    const err = await rates.rate('EUR', '2026-02-27').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err).toMatchObject({ code: 'OXR_RATE_LIMITED', status: 429, retryAfterMs: 30_000, message: 'openexchangerates: 429 access_restricted' });
    await expect(rates.rate('EUR', '2026-02-27')).resolves.toEqual({ kind: 'rate', rate: 0.921 });
    expect(oxr.requests).toHaveLength(2);
  });

  it('throws a 5xx as transient', async () => {
    await expect(client().rate('EUR', '2026-02-26')).rejects.toMatchObject({ code: 'OXR_UNAVAILABLE', status: 500 });
  });

  it('throws a refused app id as transient without the id in the message', async () => {
    const err = await client({ appId: 'ffffffffffffffffffffffffffffffff' }).rate('EUR', '2026-03-02').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'OXR_AUTH', status: 401, message: 'openexchangerates: 401 invalid_app_id' });
  });

  it('times out a hung request as transient', async () => {
    await expect(client({ timeoutMs: 200 }).rate('EUR', '2026-02-25')).rejects.toMatchObject({
      code: 'OXR_UNREACHABLE',
      message: 'openexchangerates: no answer within 200 ms',
    });
  });
});
