import { z } from 'zod';
import type { Clock, CrmFields, CrmLookup, CrmLookupResult } from '../ports';
import type { RateLimiter } from './rate-limiter';
import { parseRetryAfter, statusCode, UpstreamError } from './upstream-error';

export interface SalesforceRecordsOptions {
  /** The org's instance URL, e.g. https://example.my.salesforce.com (or a local stand-in). */
  readonly instanceUrl: string;
  readonly accessToken: string;
  /** e.g. `v60.0` (DESIGN §3). */
  readonly apiVersion: string;
  readonly timeoutMs: number;
  readonly limiter: RateLimiter;
  readonly clock: Clock;
}

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
 * names nothing, 401 an expired or invalid token, 403 `REQUEST_LIMIT_EXCEEDED` over the org's
 * API limits, 5xx and 503 unavailable. Only answers about the record are facts; every other
 * failure is transient (redelivered, then dead-lettered with its reason).
 */
export class SalesforceRecords implements CrmLookup {
  readonly crm = 'salesforce';
  private readonly base: string;

  constructor(private readonly options: SalesforceRecordsOptions) {
    this.base = `${options.instanceUrl.replace(/\/+$/, '')}/services/data/${options.apiVersion}/sobjects`;
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

  private async request(method: string, url: string, json?: unknown): Promise<{ status: number; body: unknown; errors: z.infer<typeof ErrorBody> | undefined; headers: Headers }> {
    await this.options.limiter.acquire();
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: { authorization: `Bearer ${this.options.accessToken}`, accept: 'application/json', ...(json ? { 'content-type': 'application/json' } : {}) },
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
