import type TwilioSdk from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient';
import type TwilioResponse from 'twilio/lib/http/response';
import { z } from 'zod';
import type { CallLookup, CallLookupResult, Clock } from '../ports';
import type { RateLimiter } from './rate-limiter';
import { parseRetryAfter, statusCode, UpstreamError } from './upstream-error';

export interface TwilioCallsOptions {
  readonly accountSid: string;
  readonly authToken: string;
  /** e.g. http://127.0.0.1:12112 for a local stand-in; default https://api.twilio.com. */
  readonly apiBase?: string;
  readonly timeoutMs: number;
  readonly limiter: RateLimiter;
  readonly clock: Clock;
}

type RequestOptions<T> = RequestClient.RequestOptions<T>;

type Sdk = typeof TwilioSdk;

/**
 * Twilio's own HTTP client, with one addition: a 429 or 5xx becomes an UpstreamError that keeps
 * the `Retry-After` header (the SDK's RestException drops the headers). The SDK's auto-retry
 * stays off, for the reasons given on StripePayments.
 */
function transientAwareRequestClient(sdk: Sdk, timeoutMs: number, onRetryAfter: (ms: number) => void, clock: Clock): RequestClient {
  class TransientAwareRequestClient extends sdk.RequestClient {
    override async request<TData>(opts: RequestOptions<TData>): Promise<TwilioResponse<TData>> {
      let res: TwilioResponse<TData>;
      try {
        res = await super.request<TData>(opts);
      } catch (err) {
        // axios: a timeout (ECONNABORTED), a refused or reset connection. The axios error is not
        // kept as the cause: its request config carries the Authorization header.
        const code = (err as { code?: unknown }).code;
        throw new UpstreamError('twilio', typeof code === 'string' ? code : 'request failed', 'TWILIO_UNREACHABLE');
      }
      if (res.statusCode === 429 || res.statusCode >= 500) {
        const retryAfterMs = parseRetryAfter(headerOf(res.headers, 'retry-after'), clock.now());
        if (retryAfterMs !== undefined) onRetryAfter(retryAfterMs);
        throw new UpstreamError('twilio', `${res.statusCode} ${errorMessage(res.body)}`, statusCode('twilio', res.statusCode), res.statusCode, retryAfterMs);
      }
      return res;
    }
  }
  return new TransientAwareRequestClient({ timeout: timeoutMs, autoRetry: false });
}

const CallBody = z.object({
  sid: z.string(),
  status: z.string(),
  duration: z.union([z.string(), z.null(), z.undefined()]),
});

/**
 * Twilio Calls through the official SDK (`client.api.baseUrl` points it at a stand-in; DESIGN
 * §8). The SDK is loaded on first use, as on StripePayments.
 */
export class TwilioCalls implements CallLookup {
  private client: Promise<TwilioSdk.Twilio> | undefined;

  constructor(private readonly options: TwilioCallsOptions) {}

  private load(): Promise<TwilioSdk.Twilio> {
    const o = this.options;
    this.client ??= import('twilio').then(({ default: sdk }) => {
      const http = transientAwareRequestClient(sdk, o.timeoutMs, (ms) => o.limiter.pauseUntil(o.clock.now() + ms), o.clock);
      // With a base URL of our own, TWILIO_EDGE / TWILIO_REGION in the process must not rewrite
      // its host (the SDK reads them from process.env whatever `env` says; '' is not nullish).
      const pinned = o.apiBase ? { edge: '', region: '' } : {};
      const client = sdk(o.accountSid, o.authToken, { httpClient: http, timeout: o.timeoutMs, ...pinned });
      if (o.apiBase) client.api.baseUrl = o.apiBase.replace(/\/+$/, '');
      return client;
    });
    return this.client;
  }

  async call(sid: string): Promise<CallLookupResult> {
    const client = await this.load();
    await this.options.limiter.acquire();
    let call: { sid: unknown; status: unknown; duration: unknown };
    try {
      call = await client.api.v2010.accounts(this.options.accountSid).calls(sid).fetch();
    } catch (err) {
      return this.failure(err);
    }
    const parsed = CallBody.safeParse({ sid: call.sid, status: call.status, duration: call.duration });
    if (!parsed.success) throw new UpstreamError('twilio', `unexpected Call body: ${z.prettifyError(parsed.error)}`, 'TWILIO_BAD_RESPONSE');
    const { duration } = parsed.data;
    return {
      kind: 'found',
      call: {
        sid: parsed.data.sid,
        status: parsed.data.status,
        durationSeconds: typeof duration === 'string' && /^\d+$/.test(duration) ? Number(duration) : undefined,
      },
    };
  }

  private failure(err: unknown): CallLookupResult {
    if (err instanceof UpstreamError) throw err;
    const status = (err as { status?: unknown }).status;
    if (!(err instanceof Error) || typeof status !== 'number') throw err;
    if (status === 404) return { kind: 'not_found', reason: `Twilio: ${err.message}` };
    // 401/403 and the rest: not a fact about this call; redeliver, and dead-letter with the reason.
    throw new UpstreamError('twilio', `${status} ${err.message}`, statusCode('twilio', status), status, undefined, { cause: err });
  }
}

/** A response header from axios' headers (an AxiosHeaders with `get`, or a plain object). */
function headerOf(headers: unknown, name: string): unknown {
  if (headers === null || typeof headers !== 'object') return undefined;
  if ('get' in headers && typeof headers.get === 'function') {
    const value: unknown = headers.get(name);
    return value;
  }
  return Object.entries(headers).find(([key]) => key.toLowerCase() === name)?.[1];
}

function errorMessage(body: unknown): string {
  const parsed = z.object({ message: z.string() }).safeParse(typeof body === 'string' ? safeJson(body) : body);
  return parsed.success ? parsed.data.message : 'no error message';
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
