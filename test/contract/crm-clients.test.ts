import { HubSpotContacts } from '../../shared/adapters/hubspot-contacts';
import { RateLimiter } from '../../shared/adapters/rate-limiter';
import { SalesforceRecords } from '../../shared/adapters/salesforce-records';
import { UpstreamConfigError, UpstreamError } from '../../shared/adapters/upstream-error';
import { ConfigError, isTransient } from '../../shared/errors';
import { startHubSpotFake, type HubSpotFake } from '../../tools/local/fakes/hubspot';
import { startSalesforceFake, type SalesforceFake } from '../../tools/local/fakes/salesforce';

/**
 * The CRM adapters through the real wire: HubSpot's own client (`@hubspot/api-client`) and
 * Salesforce's REST API over Node's fetch, against local stand-ins answering in the APIs' shapes.
 */
const now = 2_000_000;
const clock = { now: () => now };
const sleeps: number[] = [];
const limiter = (name: string) => new RateLimiter({ name, ratePerSecond: 1000, clock, sleep: async (ms) => void sleeps.push(ms) });

describe('HubSpotContacts: @hubspot/api-client against the HubSpot stand-in', () => {
  const TOKEN = 'pat-local-0123456789abcdef';
  let hubspot: HubSpotFake;
  const client = (over: Partial<{ accessToken: string; timeoutMs: number }> = {}) =>
    new HubSpotContacts({ accessToken: TOKEN, apiBase: hubspot.url, timeoutMs: 5000, limiter: limiter('hubspot'), clock, ...over });

  beforeAll(async () => {
    hubspot = await startHubSpotFake({
      accessToken: TOKEN,
      contacts: {
        '101': { email: 'Ada@Example.com', phone: '+1 (415) 555-0123' },
        '102': { email: null, phone: null },
        '103': [{ fault: 'rate_limit', retryAfterSeconds: 4 }, { email: 'b@example.com', phone: null }],
        '104': { fault: 'server_error', status: 503 },
        '105': { fault: 'hang' },
        '106': { email: '+14155550123', phone: 'ada@example.com' },
        '107': { fault: 'malformed' },
      },
    });
  });
  afterAll(() => hubspot.close());
  beforeEach(() => {
    hubspot.requests.splice(0);
    sleeps.splice(0);
  });

  it('reads a contact with the properties asked for', async () => {
    await expect(client().record('101')).resolves.toEqual({ kind: 'found', record: { id: '101', email: 'Ada@Example.com', phone: '+1 (415) 555-0123' } });
    // The client repeats the parameter (properties=email&properties=phone); the stand-in answers
    // only the properties asked for, so both values above show that both were asked.
    expect(hubspot.requests).toEqual([expect.objectContaining({ method: 'GET', path: '/crm/v3/objects/contacts/101', authorized: true })]);
  });

  it('reads empty properties as absent', async () => {
    await expect(client().record('102')).resolves.toEqual({ kind: 'found', record: { id: '102', email: undefined, phone: undefined } });
  });

  it('answers a 404 as a fact: HubSpot has no such contact', async () => {
    await expect(client().record('999')).resolves.toEqual({ kind: 'not_found', reason: 'HubSpot: 404 OBJECT_NOT_FOUND: Object not found.  objectId are usually numeric.' });
  });

  it('throws a 429 as transient with its Retry-After, and pauses the limiter', async () => {
    const c = client();
    const err = await c.record('103').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err).toMatchObject({ upstream: 'hubspot', code: 'HUBSPOT_RATE_LIMITED', status: 429, retryAfterMs: 4000, message: 'hubspot: 429 You have reached your secondly limit.' });
    await expect(c.record('103')).resolves.toMatchObject({ kind: 'found', record: { email: 'b@example.com' } });
    expect(sleeps).toEqual([4000]);
    // The client's own retries stay off: one request per lookup.
    expect(hubspot.requests).toHaveLength(2);
  });

  it('throws a 503 as transient, once', async () => {
    await expect(client().record('104')).rejects.toMatchObject({ code: 'HUBSPOT_UNAVAILABLE', status: 503, retryAfterMs: 1000 });
    expect(hubspot.requests).toHaveLength(1);
  });

  it('throws refused credentials as transient without the token in the message', async () => {
    const err = await client({ accessToken: 'pat-wrong' }).record('101').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'HUBSPOT_AUTH', status: 401 });
    expect(String((err as Error).message)).not.toMatch(/pat-wrong|pat-local/);
  });

  it('times out a hung request as transient', async () => {
    await expect(client({ timeoutMs: 200 }).record('105')).rejects.toMatchObject({ code: 'HUBSPOT_TIMEOUT' });
  });

  it('throws a body cut off mid-object as transient', async () => {
    await expect(client().record('107')).rejects.toBeInstanceOf(UpstreamError);
  });

  it('names an unreachable HubSpot as transient', async () => {
    const gone = await startHubSpotFake({ accessToken: TOKEN, contacts: {} });
    await gone.close();
    const c = new HubSpotContacts({ accessToken: TOKEN, apiBase: gone.url, timeoutMs: 5000, limiter: limiter('hubspot'), clock });
    await expect(c.record('101')).rejects.toMatchObject({ code: 'HUBSPOT_UNREACHABLE', message: 'hubspot: ECONNREFUSED' });
  });

  it('writes the properties back with PATCH (repair)', async () => {
    await client().update('106', { email: 'ada@example.com', phone: '+14155550123' });
    expect(hubspot.requests).toEqual([expect.objectContaining({ method: 'PATCH', path: '/crm/v3/objects/contacts/106', authorized: true })]);
    expect(hubspot.written('106')).toEqual({ email: 'ada@example.com', phone: '+14155550123' });
    await expect(client().record('106')).resolves.toEqual({ kind: 'found', record: { id: '106', email: 'ada@example.com', phone: '+14155550123' } });
  });
});

describe('SalesforceRecords: the REST API against the Salesforce stand-in', () => {
  const TOKEN = '00Dlocal!session-token';
  const LEAD = '00Q5e00000AbCdEAAA';
  const CONTACT = '0035e00000XyZaBAAA';
  let sf: SalesforceFake;
  const client = (over: Partial<{ accessToken: string; timeoutMs: number }> = {}) =>
    new SalesforceRecords({ instanceUrl: sf.url, accessToken: TOKEN, apiVersion: 'v60.0', timeoutMs: 5000, limiter: limiter('salesforce'), clock, ...over });

  beforeAll(async () => {
    sf = await startSalesforceFake({
      accessToken: TOKEN,
      records: {
        [LEAD]: { Email: 'ada@example.com', Phone: '(415) 555-0123' },
        [CONTACT]: { Email: null, Phone: '+14155550100' },
        '00Q5e00000RateLAAA': [{ fault: 'rate_limit', retryAfterSeconds: 2 }, { Email: 'c@example.com', Phone: null }],
        '00Q5e00000DownXAAA': { fault: 'server_error', status: 503 },
        '00Q5e00000HangXAAA': { fault: 'hang' },
      },
    });
  });
  afterAll(() => sf.close());
  beforeEach(() => {
    sf.requests.splice(0);
    sleeps.splice(0);
  });

  it('reads a Lead (00Q) and a Contact (003) from their sObject rows', async () => {
    await expect(client().record(LEAD)).resolves.toEqual({ kind: 'found', record: { id: LEAD, email: 'ada@example.com', phone: '(415) 555-0123' } });
    await expect(client().record(CONTACT)).resolves.toEqual({ kind: 'found', record: { id: CONTACT, email: undefined, phone: '+14155550100' } });
    expect(sf.requests.map((r) => [r.method, r.path, r.query])).toEqual([
      ['GET', `/services/data/v60.0/sobjects/Lead/${LEAD}`, { fields: 'Email,Phone' }],
      ['GET', `/services/data/v60.0/sobjects/Contact/${CONTACT}`, { fields: 'Email,Phone' }],
    ]);
  });

  it('answers a 404 NOT_FOUND as a fact', async () => {
    await expect(client().record('00Q5e00000GoneXAAA')).resolves.toEqual({ kind: 'not_found', reason: 'Salesforce: 404 NOT_FOUND: The requested resource does not exist' });
  });

  it('answers an id that is no Lead or Contact without asking', async () => {
    await expect(client().record('0015e00000AccntAAA')).resolves.toEqual({ kind: 'not_found', reason: 'Salesforce: 0015e00000AccntAAA is neither a Lead (00Q…) nor a Contact (003…) id' });
    await expect(client().record('00Qbad')).resolves.toMatchObject({ kind: 'not_found', reason: expect.stringContaining('400 MALFORMED_ID') });
    expect(sf.requests).toHaveLength(1);
  });

  it('throws a 429 as transient with its Retry-After, and pauses the limiter', async () => {
    const c = client();
    await expect(c.record('00Q5e00000RateLAAA')).rejects.toMatchObject({ upstream: 'salesforce', code: 'SALESFORCE_RATE_LIMITED', status: 429, retryAfterMs: 2000 });
    await expect(c.record('00Q5e00000RateLAAA')).resolves.toMatchObject({ kind: 'found', record: { email: 'c@example.com' } });
    expect(sleeps).toEqual([2000]);
  });

  it('throws a 503 as transient', async () => {
    await expect(client().record('00Q5e00000DownXAAA')).rejects.toMatchObject({ code: 'SALESFORCE_UNAVAILABLE', status: 503, message: expect.stringContaining('SERVER_UNAVAILABLE') });
  });

  it('without a refresh flow, an expired session (401 INVALID_SESSION_ID) is a configuration fault naming what to set, never a finding, without the token', async () => {
    const err = await client({ accessToken: 'expired' }).record(LEAD).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamConfigError);
    expect(err).toBeInstanceOf(ConfigError);
    expect(isTransient(err)).toBe(false);
    expect(err).toMatchObject({ code: 'SALESFORCE_INVALID_SESSION', status: 401, message: expect.stringMatching(/^salesforce: 401 INVALID_SESSION_ID: Session expired or invalid; no refresh flow is configured \(SALESFORCE_CLIENT_ID and SALESFORCE_REFRESH_TOKEN\)/) });
    expect(String((err as Error).message)).not.toMatch(/session-token|expired!/);
    expect(sf.requests).toHaveLength(1);
  });

  describe('with the refresh token flow of the connected app', () => {
    const APP = { clientId: '3MVGlocal.consumer-key', clientSecret: 'consumer-secret', refreshToken: '5Aeplocal.refresh-token' };
    let sfo: SalesforceFake;
    const refreshing = (over: Partial<{ refreshToken: string }> = {}) =>
      new SalesforceRecords({
        instanceUrl: sfo.url,
        accessToken: TOKEN,
        apiVersion: 'v60.0',
        timeoutMs: 5000,
        limiter: limiter('salesforce'),
        clock,
        refresh: { tokenUrl: `${sfo.url}/services/oauth2/token`, clientId: APP.clientId, clientSecret: APP.clientSecret, refreshToken: over.refreshToken ?? APP.refreshToken },
      });
    beforeEach(async () => {
      sfo = await startSalesforceFake({ accessToken: TOKEN, oauth: APP, records: { [LEAD]: { Email: 'ada@example.com', Phone: '(415) 555-0123' }, [CONTACT]: { Email: null, Phone: '+14155550100' } } });
    });
    afterEach(() => sfo.close());

    it('renews an expired access token once and asks again; requests that meet the same expiry share the renewal', async () => {
      const c = refreshing();
      await expect(c.record(LEAD)).resolves.toMatchObject({ kind: 'found' });
      sfo.expireTokens();
      const [a, b] = await Promise.all([c.record(LEAD), c.record(CONTACT)]);
      expect(a).toEqual({ kind: 'found', record: { id: LEAD, email: 'ada@example.com', phone: '(415) 555-0123' } });
      expect(b).toMatchObject({ kind: 'found', record: { id: CONTACT } });
      expect(sfo.tokenRequests).toEqual([{ grant_type: 'refresh_token', client_id: APP.clientId, client_secret: APP.clientSecret, refresh_token: APP.refreshToken }]);
      // The first read, two refused with the old token, the renewal, the two again with the new one.
      expect(sfo.requests.map((r) => [r.method, r.path, r.authorized])).toEqual([
        ['GET', `/services/data/v60.0/sobjects/Lead/${LEAD}`, true],
        ['GET', `/services/data/v60.0/sobjects/Lead/${LEAD}`, false],
        ['GET', `/services/data/v60.0/sobjects/Contact/${CONTACT}`, false],
        ['POST', '/services/oauth2/token', true],
        ['GET', `/services/data/v60.0/sobjects/Lead/${LEAD}`, true],
        ['GET', `/services/data/v60.0/sobjects/Contact/${CONTACT}`, true],
      ]);
      // The renewed token is kept: the next read needs no renewal.
      await expect(c.record(LEAD)).resolves.toMatchObject({ kind: 'found' });
      expect(sfo.tokenRequests).toHaveLength(1);
    });

    it('a refresh token the endpoint refuses (400 invalid_grant) is a configuration fault, without any token in its message', async () => {
      sfo.expireTokens();
      const err = await refreshing({ refreshToken: 'revoked' }).record(LEAD).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UpstreamConfigError);
      expect(err).toMatchObject({ code: 'SALESFORCE_REFRESH_REFUSED', status: 400, message: expect.stringContaining('invalid_grant: expired access/refresh token') });
      expect(String((err as Error).message)).not.toMatch(/revoked|consumer-secret|session-token/);
    });

    it('a renewed token refused again is a configuration fault after one renewal, not a loop', async () => {
      const refused = await startSalesforceFake({ accessToken: TOKEN, oauth: { ...APP, issuesRefusedTokens: true }, records: { [LEAD]: { Email: 'ada@example.com', Phone: null } } });
      try {
        refused.expireTokens();
        const c = new SalesforceRecords({
          instanceUrl: refused.url,
          accessToken: TOKEN,
          apiVersion: 'v60.0',
          timeoutMs: 5000,
          limiter: limiter('salesforce'),
          clock,
          refresh: { tokenUrl: `${refused.url}/services/oauth2/token`, clientId: APP.clientId, clientSecret: APP.clientSecret, refreshToken: APP.refreshToken },
        });
        const err = await c.record(LEAD).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(UpstreamConfigError);
        expect(err).toMatchObject({ code: 'SALESFORCE_INVALID_SESSION', status: 401, message: expect.stringContaining('a token just renewed through the refresh flow was refused too') });
        expect(refused.tokenRequests).toHaveLength(1);
        expect(refused.requests.map((r) => r.method)).toEqual(['GET', 'POST', 'GET']);
      } finally {
        await refused.close();
      }
    });
  });

  it('times out a hung request as transient', async () => {
    await expect(client({ timeoutMs: 200 }).record('00Q5e00000HangXAAA')).rejects.toMatchObject({ code: 'SALESFORCE_TIMEOUT' });
  });

  it('writes Email and Phone back with PATCH (204)', async () => {
    await client().update(LEAD, { phone: '+14155550123' });
    expect(sf.written(LEAD)).toEqual({ Email: 'ada@example.com', Phone: '+14155550123' });
    expect(sf.requests.map((r) => r.method)).toEqual(['PATCH']);
  });
});
