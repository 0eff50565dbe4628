import { malformedReply, Scripts, startJsonServer, type FakeServer, type Fault, type JsonServerOptions, type Reply, type Scripted } from './http';

/**
 * A local stand-in for Salesforce's REST API sObject Rows (the part crm-checker reads and, with
 * repair on, writes): `GET /services/data/vXX.X/sobjects/{Lead|Contact}/{id}?fields=Email,Phone`
 * and `PATCH` of the same path, answering as the REST API Developer Guide says
 * (https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm): a
 * record is `{attributes: {type, url}, Id, …fields}`, an error body a list of `{message,
 * errorCode}` (404 `NOT_FOUND`, 401 `INVALID_SESSION_ID`), a PATCH answers 204 without a body.
 * With `oauth`, it is also the connected app's token endpoint (`POST /services/oauth2/token`,
 * grant_type=refresh_token, form-encoded: Salesforce Help, "OAuth 2.0 Refresh Token Flow for
 * Renewed Sessions"), answering `{access_token, instance_url, id, token_type, issued_at,
 * signature}` or 400 `{error: "invalid_grant", error_description}`; `expireTokens` makes every
 * access token issued so far answer 401, as a session that timed out does.
 * Point the functions at it with SALESFORCE_INSTANCE_URL=<url>.
 */

/** A Lead's or Contact's fields as the stand-in should hold them. */
export interface FakeSalesforceRecord {
  readonly Email: string | null;
  readonly Phone: string | null;
}

export interface SalesforceFixtures {
  readonly accessToken: string;
  /** The connected app whose refresh token renews access tokens; none: no token endpoint (404). */
  readonly oauth?: {
    readonly clientId: string;
    readonly clientSecret?: string;
    readonly refreshToken: string;
    /** The tokens it issues are refused by the REST API too (e.g. the user lost API access). */
    readonly issuesRefusedTokens?: boolean;
  };
  /** By record id (`00Q…` a Lead, `003…` a Contact); an id not listed does not exist (404). */
  readonly records: Record<string, Scripted<FakeSalesforceRecord | Fault>>;
}

export interface SalesforceFake extends FakeServer {
  written(id: string): FakeSalesforceRecord | undefined;
  /** Every access token issued so far expires (its session timed out). */
  expireTokens(): void;
  /** The form bodies the token endpoint received. */
  readonly tokenRequests: Array<Record<string, string>>;
}

export async function startSalesforceFake(fixtures: SalesforceFixtures, options: JsonServerOptions = {}): Promise<SalesforceFake> {
  const scripts = new Scripts<FakeSalesforceRecord | Fault>();
  const written = new Map<string, FakeSalesforceRecord>();
  const valid = new Set([fixtures.accessToken]);
  const tokenRequests: Array<Record<string, string>> = [];
  let issued = 0;
  const server = await startJsonServer(
    (req, url, record, body) => {
      if (url.pathname === '/services/oauth2/token' && fixtures.oauth && req.method === 'POST') {
        const form = Object.fromEntries(new URLSearchParams(body));
        tokenRequests.push(form);
        const app = fixtures.oauth;
        record(true);
        if (form.grant_type !== 'refresh_token') return { status: 400, body: { error: 'unsupported_grant_type', error_description: 'grant type not supported' } };
        if (form.client_id !== app.clientId || (app.clientSecret !== undefined && form.client_secret !== app.clientSecret)) {
          return { status: 400, body: { error: 'invalid_client_id', error_description: 'client identifier invalid' } };
        }
        if (form.refresh_token !== app.refreshToken) return { status: 400, body: { error: 'invalid_grant', error_description: 'expired access/refresh token' } };
        const token = `00Dlocal!renewed-${++issued}`;
        if (!app.issuesRefusedTokens) valid.add(token);
        const id = 'https://login.salesforce.com/id/00Dlocal000000000AA/005local000000000AA';
        return { status: 200, body: { access_token: token, signature: Buffer.from(`${id}${issued}`).toString('base64'), scope: 'api refresh_token', instance_url: server.url, id, token_type: 'Bearer', issued_at: String(Date.now()) } };
      }
      const header = req.headers.authorization ?? '';
      const authorized = header.startsWith('Bearer ') && valid.has(header.slice('Bearer '.length));
      record(authorized);
      if (!authorized) return sfError(401, 'INVALID_SESSION_ID', 'Session expired or invalid');
      const m = /^\/services\/data\/(v\d+\.\d)\/sobjects\/(Lead|Contact)\/([^/]+)$/.exec(url.pathname);
      if (!m || (req.method !== 'GET' && req.method !== 'PATCH')) return sfError(404, 'NOT_FOUND', 'The requested resource does not exist');
      const [, version, sobject, rawId] = m as unknown as [string, string, 'Lead' | 'Contact', string];
      const id = decodeURIComponent(rawId);
      if (!/^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$/.test(id)) return sfError(400, 'MALFORMED_ID', `${sobject} ID: id value of incorrect type: ${id}`);
      if ((sobject === 'Lead') !== id.startsWith('00Q') || (sobject === 'Contact') !== id.startsWith('003')) {
        return sfError(404, 'NOT_FOUND', 'Provided external ID field does not exist or is not accessible: ' + id);
      }
      const scripted = scripts.next(id, Object.hasOwn(fixtures.records, id) ? fixtures.records[id] : undefined);
      const found = scripted !== undefined && !('fault' in scripted) ? (written.get(id) ?? scripted) : scripted;
      if (found === undefined || ('fault' in found && found.fault === 'not_found')) return sfError(404, 'NOT_FOUND', 'The requested resource does not exist');
      if ('fault' in found) return faultReply(found, version, sobject, id);
      if (req.method === 'PATCH') {
        const fields = patchFields(body);
        if (!fields) return sfError(400, 'JSON_PARSER_ERROR', 'Unexpected character at [line:1, column:1]');
        written.set(id, { Email: fields.Email ?? found.Email, Phone: fields.Phone ?? found.Phone });
        return { status: 204, text: '' };
      }
      const asked = (url.searchParams.get('fields') ?? 'Email,Phone').split(',');
      return { status: 200, body: recordResource(version, sobject, id, found, asked) };
    },
    { ...options, readBody: true },
  );
  return Object.assign(server, { written: (id: string) => written.get(id), expireTokens: () => valid.clear(), tokenRequests });
}

function patchFields(body: string): { Email?: string; Phone?: string } | undefined {
  try {
    const v = JSON.parse(body) as Record<string, unknown>;
    if (v === null || typeof v !== 'object') return undefined;
    return { ...(typeof v.Email === 'string' ? { Email: v.Email } : {}), ...(typeof v.Phone === 'string' ? { Phone: v.Phone } : {}) };
  } catch {
    return undefined;
  }
}

function faultReply(fault: Exclude<Fault, { fault: 'not_found' }>, version: string, sobject: string, id: string): Reply {
  switch (fault.fault) {
    case 'rate_limit':
      return sfError(429, 'REQUEST_LIMIT_EXCEEDED', 'TotalRequests Limit exceeded.', fault.retryAfterSeconds === undefined ? {} : { 'retry-after': String(fault.retryAfterSeconds) });
    case 'server_error':
      return sfError(fault.status ?? 500, fault.status === 503 ? 'SERVER_UNAVAILABLE' : 'UNKNOWN_EXCEPTION', 'An unexpected error occurred. Please include this ErrorId if you contact support', fault.status === 503 ? { 'retry-after': '1' } : {});
    case 'malformed':
      return malformedReply(recordResource(version, sobject, id, { Email: null, Phone: null }, ['Email', 'Phone']));
    case 'hang':
      return { hang: true };
    default: {
      const never: never = fault;
      throw new Error(`unknown fault ${JSON.stringify(never)}`);
    }
  }
}

function recordResource(version: string, sobject: string, id: string, r: FakeSalesforceRecord, asked: readonly string[]) {
  const out: Record<string, unknown> = { attributes: { type: sobject, url: `/services/data/${version}/sobjects/${sobject}/${id}` }, Id: id };
  for (const f of asked) if (f === 'Email' || f === 'Phone') out[f] = r[f];
  return out;
}

function sfError(status: number, errorCode: string, message: string, headers: Record<string, string> = {}): Reply {
  return { status, body: [{ message, errorCode }], headers };
}
