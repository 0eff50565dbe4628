import type { Client } from '@hubspot/api-client';
import { z } from 'zod';
import type { Clock, CrmFields, CrmLookup, CrmLookupResult } from '../ports';
import type { RateLimiter } from './rate-limiter';
import { parseRetryAfter, statusCode, UpstreamError } from './upstream-error';

export interface HubSpotContactsOptions {
  readonly accessToken: string;
  /** e.g. http://127.0.0.1:12114 for a local stand-in; default https://api.hubapi.com. */
  readonly apiBase?: string;
  readonly timeoutMs: number;
  readonly limiter: RateLimiter;
  readonly clock: Clock;
}

/** The contact as `GET /crm/v3/objects/contacts/{id}?properties=email,phone` returns it. */
const ContactBody = z.looseObject({
  id: z.string(),
  properties: z.record(z.string(), z.union([z.string(), z.null()])),
});

/**
 * HubSpot CRM v3 contacts through HubSpot's own client, `@hubspot/api-client` (13.5.0: the last
 * release for Node 20; `basePath` points it at a stand-in). Its two options that would retry or
 * queue on their own, `numberOfApiCallRetries` and `limiterOptions`, stay unset, for the reasons
 * given on StripePayments: Pub/Sub redelivery with backoff is the retry, and this client's
 * RateLimiter (paused by a 429's `Retry-After`) is the limit. HubSpot's statuses:
 * https://developers.hubspot.com/docs/api-reference/error-handling (404 absent; 429 over the
 * rate limit; 502/503/504 pause and retry; 401/403 credentials). Loaded on first use: the other
 * functions' cold starts should not pay for it.
 */
export class HubSpotContacts implements CrmLookup {
  readonly crm = 'hubspot';
  private client: Promise<Client> | undefined;

  constructor(private readonly options: HubSpotContactsOptions) {}

  private load(): Promise<Client> {
    const o = this.options;
    this.client ??= import('@hubspot/api-client').then(({ Client: HubSpot }) => new HubSpot({ accessToken: o.accessToken, ...(o.apiBase ? { basePath: o.apiBase.replace(/\/+$/, '') } : {}) }));
    return this.client;
  }

  async record(id: string): Promise<CrmLookupResult> {
    const client = await this.load();
    await this.options.limiter.acquire();
    let body: unknown;
    try {
      body = await this.timed(client.crm.contacts.basicApi.getById(id, ['email', 'phone']));
    } catch (err) {
      const status = apiStatus(err);
      if (status === 404) return { kind: 'not_found', reason: `HubSpot: 404 ${errorMessage(err)}` };
      throw this.failure(err);
    }
    const parsed = ContactBody.safeParse(body);
    if (!parsed.success) throw new UpstreamError('hubspot', `unexpected contact body: ${z.prettifyError(parsed.error)}`, 'HUBSPOT_BAD_RESPONSE');
    const { properties } = parsed.data;
    return { kind: 'found', record: { id: parsed.data.id, email: present(properties.email), phone: present(properties.phone) } };
  }

  async update(id: string, fields: CrmFields): Promise<void> {
    const client = await this.load();
    await this.options.limiter.acquire();
    const properties: Record<string, string> = {};
    if (fields.email !== undefined) properties.email = fields.email;
    if (fields.phone !== undefined) properties.phone = fields.phone;
    try {
      await this.timed(client.crm.contacts.basicApi.update(id, { properties }));
    } catch (err) {
      throw this.failure(err);
    }
  }

  /** The client has no request timeout of its own: the lookup gives up after `timeoutMs`. */
  private timed<T>(request: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new UpstreamError('hubspot', `no answer in ${this.options.timeoutMs} ms`, 'HUBSPOT_TIMEOUT')), this.options.timeoutMs);
    });
    request.catch(() => undefined); // a late failure of the abandoned request is not unhandled
    return Promise.race([request, timeout]).finally(() => clearTimeout(timer));
  }

  /** Every other failure is not a fact about the record: redeliver, and dead-letter with the reason. */
  private failure(err: unknown): Error {
    if (err instanceof UpstreamError) return err;
    const status = apiStatus(err);
    if (status === undefined) {
      // node-fetch: a refused or reset connection. The error is not kept as the cause: its
      // request options carry the Authorization header.
      const code = (err as { code?: unknown }).code;
      return new UpstreamError('hubspot', typeof code === 'string' ? code : 'request failed', 'HUBSPOT_UNREACHABLE');
    }
    const retryAfterMs = parseRetryAfter(headerOf(err, 'retry-after'), this.options.clock.now());
    if (retryAfterMs !== undefined) this.options.limiter.pauseUntil(this.options.clock.now() + retryAfterMs);
    return new UpstreamError('hubspot', `${status} ${errorMessage(err)}`, statusCode('hubspot', status), status, retryAfterMs);
  }
}

/** The HTTP status of the client's ApiException (`code`); `undefined` for a network failure. */
function apiStatus(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

function headerOf(err: unknown, name: string): unknown {
  const headers = (err as { headers?: unknown }).headers;
  return headers !== null && typeof headers === 'object' ? (headers as Record<string, unknown>)[name] : undefined;
}

/** HubSpot's error body: `{status: "error", message, correlationId, category, …}`. */
function errorMessage(err: unknown): string {
  const parsed = z.looseObject({ message: z.string(), category: z.string().optional() }).safeParse((err as { body?: unknown }).body);
  if (!parsed.success) return 'no error message';
  return parsed.data.category ? `${parsed.data.category}: ${parsed.data.message}` : parsed.data.message;
}

function present(value: string | null | undefined): string | undefined {
  return value === null || value === undefined || value.trim() === '' ? undefined : value;
}
