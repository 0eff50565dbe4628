import { z } from 'zod';
import type { Clock, CrmFields, CrmLookup, CrmLookupResult } from '../ports';
import type { RateLimiter } from './rate-limiter';
import { parseRetryAfter, statusCode, UpstreamConfigError, UpstreamError } from './upstream-error';

export interface SalesforceRecordsOptions {
  /** The org's instance URL, e.g. https://example.my.salesforce.com (or a local stand-in). */
  readonly instanceUrl: string;
  readonly accessToken: string;
  /** e.g. `v60.0` (DESIGN §3). */
  readonly apiVersion: string;
  readonly timeoutMs: number;
  readonly limiter: RateLimiter;
  readonly clock: Clock;
  /**
   * The OAuth 2.0 refresh token flow of the connected app that issued the access token, when
   * configured: an access token that expired (401 INVALID_SESSION_ID) is renewed once through it.
   */
  readonly refresh?: SalesforceRefresh;
}

/** The connected app's refresh token flow (Salesforce Help, "OAuth 2.0 Refresh Token Flow for Renewed Sessions"). */
export interface SalesforceRefresh {
  /** The token endpoint, e.g. https://login.salesforce.com/services/oauth2/token (or a My Domain's, or a stand-in). */
  readonly tokenUrl: string;
  /** The connected app's consumer key. */
  readonly clientId: string;
  /** The consumer secret, where the connected app requires it. */
  readonly clientSecret?: string;
  readonly refreshToken: string;
}

/** The token endpoint's answer: a new access token (and, where rotation is on, a new refresh token). */
const TokenBody = z.looseObject({ access_token: z.string().min(1), instance_url: z.string().optional(), refresh_token: z.string().min(1).optional() });
/** Its error body: `{error, error_description}` (e.g. `invalid_grant`: the refresh token expired or was revoked). */
const TokenError = z.looseObject({ error: z.string(), error_description: z.string().optional() });

/** The record as `GET …/sobjects/{Lead|Contact}/{id}?fields=Email,Phone` returns it. */
const RecordBody = z.looseObject({
  attributes: z.looseObject({ type: z.string() }),
  Id: z.string(),
  Email: z.union([z.string(), z.null()]).optional(),
  Phone: z.union([z.string(), z.null()]).optional(),
});

/** Salesforce's error body: a list of `{message, errorCode, fields?}`. */
const ErrorBody = z.array(z.looseObject({ message: z.string(), errorCode: z.string() }));

/**
 * The sObject a record id names, by its key prefix: `00Q` a Lead, `003` a Contact (DESIGN §3);
 * anything else is no record the CRM sync writes.
 */
export function sobjectOf(id: string): 'Lead' | 'Contact' | undefined {
  if (id.startsWith('00Q')) return 'Lead';
  if (id.startsWith('003')) return 'Contact';
  return undefined;
}

/**
 * Salesforce Leads and Contacts through the REST API's sObject Rows resource, with Node's own
 * fetch. Not jsforce: its current release requires Node 22 and brings a CLI's dependencies
 * (inquirer, faye, xml2js…) for two requests. Statuses as Salesforce documents them
 * (https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm):
 * 404 `NOT_FOUND` when the record is absent (or deleted), 400 `MALFORMED_ID` for an id that
 * names nothing, 401 `INVALID_SESSION_ID` an expired or invalid token (renewed once through the
 * refresh token flow when it is configured, else a configuration fault: `request`), 403 `REQUEST_LIMIT_EXCEEDED` over the org's
 * API limits, 5xx and 503 unavailable. Only answers about the record are facts; every other
 * failure is transient (redelivered, then dead-lettered with its reason).
 */
export class SalesforceRecords implements CrmLookup {
  readonly crm = 'salesforce';
  private readonly base: string;
  private accessToken: string;
  private refreshToken: string | undefined;
  /** The refresh in flight: requests that meet the same expired token wait for one renewal. */
  private renewal: Promise<void> | undefined;

  constructor(private readonly options: SalesforceRecordsOptions) {
    this.base = `${options.instanceUrl.replace(/\/+$/, '')}/services/data/${options.apiVersion}/sobjects`;
    this.accessToken = options.accessToken;
    this.refreshToken = options.refresh?.refreshToken;
  }

  async record(id: string): Promise<CrmLookupResult> {
    const sobject = sobjectOf(id);
    if (!sobject) return { kind: 'not_found', reason: `Salesforce: ${id} is neither a Lead (00Q…) nor a Contact (003…) id` };
    const res = await this.request('GET', `${this.url(sobject, id)}?fields=Email,Phone`);
    if (res.status === 404 || res.status === 400) {
      const error = res.errors?.[0];
      if (res.status === 404 || error?.errorCode === 'MALFORMED_ID' || error?.errorCode === 'INVALID_ID_FIELD') {
        return { kind: 'not_found', reason: `Salesforce: ${res.status} ${error ? `${error.errorCode}: ${error.message}` : 'no error body'}` };
      }
    }
    if (res.status !== 200) throw this.failure(res);
    const parsed = RecordBody.safeParse(res.body);
    if (!parsed.success) throw new UpstreamError('salesforce', `unexpected ${sobject} body: ${z.prettifyError(parsed.error)}`, 'SALESFORCE_BAD_RESPONSE');
    const r = parsed.data;
    return { kind: 'found', record: { id: r.Id, email: present(r.Email), phone: present(r.Phone) } };
  }

  async update(id: string, fields: CrmFields): Promise<void> {
    const sobject = sobjectOf(id);
    if (!sobject) throw new UpstreamError('salesforce', `${id} is neither a Lead nor a Contact id`, 'SALESFORCE_HTTP_400');
    const body: Record<string, string> = {};
    if (fields.email !== undefined) body.Email = fields.email;
    if (fields.phone !== undefined) body.Phone = fields.phone;
    const res = await this.request('PATCH', this.url(sobject, id), body);
    if (res.status !== 204 && res.status !== 200) throw this.failure(res);
  }

  private url(sobject: string, id: string): string {
    return `${this.base}/${sobject}/${encodeURIComponent(id)}`;
  }

  /**
   * One request; a 401 (INVALID_SESSION_ID: the access token expired or was revoked, REST API
   * Developer Guide, Status Codes and Error Responses) is not about the record: with the refresh
   * flow configured the token is renewed once and the request sent again, else (or when the new
   * token is refused too) it is a configuration fault for an operator, not a transient one.
   */
  private async request(method: string, url: string, json?: unknown): Promise<{ status: number; body: unknown; errors: z.infer<typeof ErrorBody> | undefined; headers: Headers }> {
    const token = this.accessToken;
    const first = await this.send(method, url, token, json);
    if (first.status !== 401) return first;
    if (!this.options.refresh) throw this.invalidSession(first, 'no refresh flow is configured (SALESFORCE_CLIENT_ID and SALESFORCE_REFRESH_TOKEN): put a new token in SALESFORCE_ACCESS_TOKEN');
    // Another request may have renewed it already; else renew it, once for all who wait.
    if (this.accessToken === token) {
      this.renewal ??= this.renew().finally(() => (this.renewal = undefined));
      await this.renewal;
    }
    const second = await this.send(method, url, this.accessToken, json);
    if (second.status === 401) throw this.invalidSession(second, 'a token just renewed through the refresh flow was refused too: check the connected app and its user');
    return second;
  }

  private invalidSession(res: { status: number; errors: z.infer<typeof ErrorBody> | undefined }, what: string): UpstreamConfigError {
    const error = res.errors?.[0];
    return new UpstreamConfigError('salesforce', `${res.status} ${error ? `${error.errorCode}: ${error.message}` : 'no error body'}; ${what}`, 'SALESFORCE_INVALID_SESSION', res.status);
  }

  /** The refresh token flow: POST grant_type=refresh_token to the token endpoint (form-encoded). */
  private async renew(): Promise<void> {
    const r = this.options.refresh!;
    const form = new URLSearchParams({ grant_type: 'refresh_token', client_id: r.clientId, refresh_token: this.refreshToken ?? r.refreshToken });
    if (r.clientSecret) form.set('client_secret', r.clientSecret);
    let res: Response;
    try {
      res = await fetch(r.tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: form.toString(),
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
    } catch (err) {
      const e = err as { name?: string; cause?: { code?: unknown } };
      const code = e.name === 'TimeoutError' ? `no answer in ${this.options.timeoutMs} ms` : typeof e.cause?.code === 'string' ? e.cause.code : 'request failed';
      throw new UpstreamError('salesforce', `token refresh: ${code}`, e.name === 'TimeoutError' ? 'SALESFORCE_TIMEOUT' : 'SALESFORCE_UNREACHABLE');
    }
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (res.status === 429 || res.status >= 500) throw new UpstreamError('salesforce', `token refresh: ${res.status}`, statusCode('salesforce', res.status), res.status);
    if (!res.ok) {
      const e = TokenError.safeParse(body);
      const why = e.success ? `${e.data.error}${e.data.error_description ? `: ${e.data.error_description}` : ''}` : 'no error body';
      throw new UpstreamConfigError('salesforce', `token refresh refused (${res.status} ${why}): renew SALESFORCE_REFRESH_TOKEN or check SALESFORCE_CLIENT_ID/SALESFORCE_CLIENT_SECRET`, 'SALESFORCE_REFRESH_REFUSED', res.status);
    }
    const t = TokenBody.safeParse(body);
    if (!t.success) throw new UpstreamError('salesforce', `token refresh answered an unexpected body: ${z.prettifyError(t.error)}`, 'SALESFORCE_BAD_RESPONSE');
    this.accessToken = t.data.access_token;
    // With refresh token rotation on, each renewal issues the next refresh token and voids the last.
    if (t.data.refresh_token) this.refreshToken = t.data.refresh_token;
  }

  private async send(method: string, url: string, token: string, json?: unknown): Promise<{ status: number; body: unknown; errors: z.infer<typeof ErrorBody> | undefined; headers: Headers }> {
    await this.options.limiter.acquire();
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(json ? { 'content-type': 'application/json' } : {}) },
        ...(json ? { body: JSON.stringify(json) } : {}),
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
    } catch (err) {
      const e = err as { name?: string; cause?: { code?: unknown } };
      const code = e.name === 'TimeoutError' ? `no answer in ${this.options.timeoutMs} ms` : typeof e.cause?.code === 'string' ? e.cause.code : 'request failed';
      throw new UpstreamError('salesforce', code, e.name === 'TimeoutError' ? 'SALESFORCE_TIMEOUT' : 'SALESFORCE_UNREACHABLE');
    }
    const text = await res.text();
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      if (res.ok) throw new UpstreamError('salesforce', `${res.status} with a body that is not JSON`, 'SALESFORCE_BAD_RESPONSE');
    }
    const errors = ErrorBody.safeParse(body);
    return { status: res.status, body, errors: errors.success ? errors.data : undefined, headers: res.headers };
  }

  private failure(res: { status: number; errors: z.infer<typeof ErrorBody> | undefined; headers: Headers }): UpstreamError {
    const error = res.errors?.[0];
    const retryAfterMs = parseRetryAfter(res.headers.get('retry-after') ?? undefined, this.options.clock.now());
    if (retryAfterMs !== undefined) this.options.limiter.pauseUntil(this.options.clock.now() + retryAfterMs);
    const code = error?.errorCode === 'REQUEST_LIMIT_EXCEEDED' ? 'SALESFORCE_RATE_LIMITED' : statusCode('salesforce', res.status);
    return new UpstreamError('salesforce', `${res.status} ${error ? `${error.errorCode}: ${error.message}` : 'no error body'}`, code, res.status, retryAfterMs);
  }
}

function present(value: string | null | undefined): string | undefined {
  return value === null || value === undefined || value.trim() === '' ? undefined : value;
}
