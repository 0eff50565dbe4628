import { CrmEnv, crmsFromEnv } from '../../shared/adapters/external';
import { MemoryOutcomeLedger } from '../../shared/adapters/memory-ledger';
import { MemoryPublisher } from '../../shared/adapters/memory-publisher';
import { silentLogger } from '../../shared/log';
import { pushBody } from '../../shared/pubsub/push';
import { eventAttributes } from '../../shared/publish';
import { TOPICS } from '../../shared/topology';
import { DEFAULT_CRM_CONFIG } from '../../functions/crm-checker/core';
import { crmCheckerHandler } from '../../functions/crm-checker/handler';
import { startHubSpotFake, type HubSpotFake } from '../../tools/local/fakes/hubspot';
import { startSalesforceFake, type SalesforceFake } from '../../tools/local/fakes/salesforce';
import { serveFunction } from '../support/harness';
import { crmSynced, saleRecorded } from '../support/events';

/** crm-checker through the Functions Framework with the raw Pub/Sub push body, against both CRM stand-ins. */
const NOW = Date.parse('2026-03-01T12:00:00Z');
const TOPIC_PATH = '/projects/demo/topics/events-unique';
const LEAD = '00Q5e00000AbCdEAAA';
const EMAIL = 'ada.lovelace@example.com';
const PHONE = '+14155550123';

let seq = 0;
async function push(url: string, event: { id: string; type: string; source: string }): Promise<number> {
  const body = pushBody(JSON.stringify(event), eventAttributes(event), `crm-${++seq}`);
  const res = await fetch(`${url}${TOPIC_PATH}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return res.status;
}

const sync = (id: string, crm: 'hubspot' | 'salesforce', recordId: string) => crmSynced({ id, data: { lead_id: `lead-${id}`, crm, crm_record_id: recordId, email: EMAIL, phone: PHONE } });

describe.each([false, true])('crm-checker over HTTP (repair %s)', (repair) => {
  const messages = new MemoryPublisher();
  let hubspot: HubSpotFake;
  let salesforce: SalesforceFake;
  let server: { url: string; close: () => Promise<void> };

  beforeAll(async () => {
    hubspot = await startHubSpotFake({
      accessToken: 'pat-contract',
      contacts: {
        '201': { email: 'Ada.Lovelace@Example.com', phone: '(415) 555-0123' },
        '202': { email: PHONE, phone: EMAIL },
        '203': [{ fault: 'server_error', status: 503 }, { email: EMAIL, phone: '+14155550199' }],
        '204': [{ fault: 'rate_limit', retryAfterSeconds: 1 }, { email: EMAIL, phone: PHONE }],
      },
    });
    salesforce = await startSalesforceFake({ accessToken: 'sf-contract', records: { [LEAD]: { Email: EMAIL, Phone: '415-555-0000' } } });
    const env = CrmEnv.parse({ HUBSPOT_ACCESS_TOKEN: 'pat-contract', HUBSPOT_API_BASE: hubspot.url, SALESFORCE_INSTANCE_URL: salesforce.url, SALESFORCE_ACCESS_TOKEN: 'sf-contract' });
    const handler = crmCheckerHandler({
      publisher: messages,
      ledger: new MemoryOutcomeLedger(),
      clock: { now: () => NOW },
      logger: silentLogger,
      retentionMs: 30 * 86_400_000,
      config: { ...DEFAULT_CRM_CONFIG, repair },
      crms: crmsFromEnv(env, { clock: { now: () => NOW }, sleep: async () => undefined }),
    });
    server = await serveFunction('crm-checker', handler as never);
  });
  afterAll(async () => {
    await server.close();
    await hubspot.close();
    await salesforce.close();
  });
  beforeEach(() => messages.messages.splice(0));

  const action = repair ? 'corrected' : 'review';
  const about = (id: string) => ({ kind: 'crm_mismatch', event_id: id, type: 'crm.synced', source: '//test/producer' });

  it('accepts a record that agrees once case and formatting are set aside', async () => {
    expect(await push(server.url, sync('y-ok', 'hubspot', '201'))).toBe(204);
    expect(messages.messages).toHaveLength(0);
  });

  it('publishes one masked email_phone_swapped finding, once, whatever the redeliveries', async () => {
    const event = sync('y-swap', 'hubspot', '202');
    expect(await push(server.url, event)).toBe(204);
    expect(await push(server.url, event)).toBe(204);
    expect(messages.json(TOPICS.findings)).toEqual([
      {
        ...about('y-swap'),
        action,
        field: 'email_phone_swapped',
        expected: { email: 'a***@example.com', phone: '+*********23' },
        actual: { email: '+*********23', phone: 'a***@example.com' },
        reason: "the HubSpot record holds the event's phone as its email and its email as its phone",
      },
    ]);
    expect(messages.messages[0]!.attributes).toMatchObject({ kind: 'crm_mismatch', action, event_id: 'y-swap' });
    expect(messages.messages.map((m) => m.data.toString()).join('')).not.toMatch(/lovelace|5550123/);
    // Repair writes the event's values back, once; without repair the CRM is left alone.
    expect(hubspot.written('202')).toEqual(repair ? { email: EMAIL, phone: PHONE } : undefined);
    expect(hubspot.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith('/202'))).toHaveLength(repair ? 1 : 0);
  });

  it('reports a record the CRM does not have (404)', async () => {
    expect(await push(server.url, sync('y-gone', 'hubspot', '299'))).toBe(204);
    expect(messages.json(TOPICS.findings)).toEqual([expect.objectContaining({ ...about('y-gone'), action: 'review', field: 'record', expected: '299' })]);
  });

  it('answers 500 on a 503 (Pub/Sub redelivers), decides nothing, and decides on the redelivery', async () => {
    const event = sync('y-503', 'hubspot', '203');
    expect(await push(server.url, event)).toBe(500);
    expect(messages.messages).toHaveLength(0);
    expect(await push(server.url, event)).toBe(204);
    expect(messages.json(TOPICS.findings)).toEqual([expect.objectContaining({ ...about('y-503'), action, field: 'phone', expected: '+*********23', actual: '+*********99' })]);
  });

  it('answers 500 on a 429 and goes through on the redelivery', async () => {
    const event = sync('y-429', 'hubspot', '204');
    expect(await push(server.url, event)).toBe(500);
    expect(await push(server.url, event)).toBe(204);
    expect(messages.messages).toHaveLength(0);
  });

  it('checks a Salesforce Lead: a wrong phone', async () => {
    expect(await push(server.url, sync('y-sf', 'salesforce', LEAD))).toBe(204);
    expect(messages.json(TOPICS.findings)).toEqual([expect.objectContaining({ ...about('y-sf'), action, field: 'phone', reason: 'the Salesforce record holds another phone' })]);
    expect(salesforce.written(LEAD)).toEqual(repair ? { Email: EMAIL, Phone: PHONE } : undefined);
  });

  it('acks event types it does not own', async () => {
    expect(await push(server.url, saleRecorded({ id: 's-1' }))).toBe(204);
    expect(messages.messages).toHaveLength(0);
  });
});

describe('crm-checker over HTTP when the Salesforce access token has expired (401 INVALID_SESSION_ID)', () => {
  const APP = { clientId: '3MVGcontract.key', clientSecret: 'contract-secret', refreshToken: '5Aepcontract.refresh' };
  let salesforce: SalesforceFake;
  beforeEach(async () => {
    salesforce = await startSalesforceFake({ accessToken: 'sf-expiring', oauth: APP, records: { [LEAD]: { Email: EMAIL, Phone: '415-555-0000' } } });
    salesforce.expireTokens();
  });
  afterEach(() => salesforce.close());

  async function serve(env: Record<string, string>) {
    const messages = new MemoryPublisher();
    const crms = crmsFromEnv(CrmEnv.parse({ SALESFORCE_INSTANCE_URL: salesforce.url, SALESFORCE_ACCESS_TOKEN: 'sf-expiring', ...env }), { clock: { now: () => NOW }, sleep: async () => undefined });
    const handler = crmCheckerHandler({ publisher: messages, ledger: new MemoryOutcomeLedger(), clock: { now: () => NOW }, logger: silentLogger, retentionMs: 30 * 86_400_000, config: DEFAULT_CRM_CONFIG, crms });
    return { messages, server: await serveFunction('crm-checker', handler as never) };
  }

  it('without a refresh flow: answers 500 (redelivered, then dead-lettered with the reason), and never reports the record as missing or wrong', async () => {
    const { messages, server } = await serve({});
    try {
      expect(await push(server.url, sync('x-expired', 'salesforce', LEAD))).toBe(500);
      expect(messages.messages).toEqual([]);
    } finally {
      await server.close();
    }
  });

  it('with SALESFORCE_CLIENT_ID, SALESFORCE_CLIENT_SECRET and SALESFORCE_REFRESH_TOKEN: renews the token once and checks the record', async () => {
    const { messages, server } = await serve({ SALESFORCE_CLIENT_ID: APP.clientId, SALESFORCE_CLIENT_SECRET: APP.clientSecret, SALESFORCE_REFRESH_TOKEN: APP.refreshToken, SALESFORCE_LOGIN_URL: salesforce.url });
    try {
      expect(await push(server.url, sync('x-renewed', 'salesforce', LEAD))).toBe(204);
      expect(messages.json(TOPICS.findings)).toEqual([expect.objectContaining({ kind: 'crm_mismatch', event_id: 'x-renewed', field: 'phone' })]);
      expect(salesforce.tokenRequests).toHaveLength(1);
    } finally {
      await server.close();
    }
  });

  it('one of SALESFORCE_CLIENT_ID and SALESFORCE_REFRESH_TOKEN without the other is a configuration error at cold start', () => {
    expect(() => crmsFromEnv(CrmEnv.parse({ SALESFORCE_INSTANCE_URL: salesforce.url, SALESFORCE_ACCESS_TOKEN: 't', SALESFORCE_CLIENT_ID: APP.clientId }), { clock: { now: () => NOW }, sleep: async () => undefined })).toThrow(
      /needs both SALESFORCE_CLIENT_ID and SALESFORCE_REFRESH_TOKEN/,
    );
  });
});
