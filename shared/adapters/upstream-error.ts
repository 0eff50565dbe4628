import { ConfigError, TransientError } from '../errors';

export type Upstream = 'stripe' | 'twilio' | 'openexchangerates' | 'hubspot' | 'salesforce';

/**
 * A fault of an external API worth retrying: 429, 5xx, a timeout, an unreachable host, or a
 * credential it refused (a rotated secret is fixed by an operator, then the redelivery or a
 * dead-letter replay goes through; recording a finding about the event would be wrong). The
 * handler throws it, so Pub/Sub redelivers with backoff. Never carries a key.
 */
export class UpstreamError extends TransientError {
  override readonly name = 'UpstreamError';
  constructor(
    readonly upstream: Upstream,
    message: string,
    code: string,
    readonly status?: number,
    /** What the API asked for in `Retry-After`, in ms. */
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(`${upstream}: ${message}`, code, {}, options);
  }
}

/**
 * The API says the function is configured wrong (e.g. a Stripe key of the other mode): nothing
 * about any event can be decided until an operator fixes it. Not transient, so a replay stops at
 * once with one line; a function still throws it (500, redelivered, dead-lettered with this
 * reason) rather than record a wrong finding about every sale.
 */
export class UpstreamConfigError extends ConfigError {
  override readonly name = 'UpstreamConfigError';
  constructor(
    readonly upstream: Upstream,
    message: string,
    readonly code: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(`${upstream}: ${message}`, options);
  }
}

/**
 * Reads a `Retry-After` header (delta-seconds or an HTTP date) as milliseconds from `now`;
 * `undefined` when absent or unreadable.
 */
export function parseRetryAfter(value: unknown, now: number): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (typeof text !== 'string' || text.trim() === '') return undefined;
  if (/^\d+$/.test(text.trim())) return Number(text.trim()) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The code of an upstream HTTP status: how a transient fault is named in logs and dead letters. */
export function statusCode(upstream: Upstream, status: number): string {
  const prefix = upstream === 'openexchangerates' ? 'OXR' : upstream.toUpperCase();
  if (status === 429) return `${prefix}_RATE_LIMITED`;
  if (status === 401 || status === 403) return `${prefix}_AUTH`;
  if (status >= 500) return `${prefix}_UNAVAILABLE`;
  return `${prefix}_HTTP_${status}`;
}
