import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../errors';
import { envNumber } from '../config';
import { RatesFile } from '../rates/file';
import type { Clock } from '../ports';
import { FileRates } from './file-rates';
import { HubSpotContacts } from './hubspot-contacts';
import { OxrRates } from './oxr-rates';
import { RateLimiter, type Sleep } from './rate-limiter';
import { SalesforceRecords, type SalesforceRefresh } from './salesforce-records';
import { StripePayments } from './stripe-payments';
import { TwilioCalls } from './twilio-calls';

/**
 * The environment of the external APIs, shared by the functions and `event-recovery replay`.
 * Keys come from the environment (in GCP, Secret Manager secrets mounted as environment
 * variables) and are never logged: no message below quotes a value.
 */
const optionalText = z.string().trim().min(1).optional().catch(undefined);
const baseUrl = z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).optional();

export const StripeEnv = z.object({
  STRIPE_API_KEY: optionalText,
  /** A local stand-in, e.g. http://127.0.0.1:12111. */
  STRIPE_API_BASE: baseUrl,
  STRIPE_TIMEOUT_MS: envNumber(10_000),
  /** Requests per second to Stripe, per instance (Stripe allows 100/s in live mode for reads). */
  STRIPE_MAX_RPS: envNumber(20),
  STRIPE_BURST: envNumber(1),
});
export type StripeEnv = z.infer<typeof StripeEnv>;

export const TwilioEnv = z.object({
  TWILIO_ACCOUNT_SID: optionalText,
  TWILIO_AUTH_TOKEN: optionalText,
  /** A local stand-in, e.g. http://127.0.0.1:12112 (replaces https://api.twilio.com). */
  TWILIO_API_BASE: baseUrl,
  TWILIO_TIMEOUT_MS: envNumber(10_000),
  TWILIO_MAX_RPS: envNumber(10),
  TWILIO_BURST: envNumber(1),
});
export type TwilioEnv = z.infer<typeof TwilioEnv>;

/**
 * The CRMs crm-checker asks (DESIGN §3). HubSpot's limit for a private app is 100 or 190
 * requests per 10 s by plan (https://developers.hubspot.com/docs/guides/apps/api-usage/usage-details),
 * so 9/s per instance, the client's own default pace; Salesforce limits requests per day and
 * concurrent long requests, not per second, so its rate is a courtesy.
 */
export const CrmEnv = z.object({
  HUBSPOT_ACCESS_TOKEN: optionalText,
  /** A local stand-in, e.g. http://127.0.0.1:12114 (replaces https://api.hubapi.com). */
  HUBSPOT_API_BASE: baseUrl,
  HUBSPOT_TIMEOUT_MS: envNumber(10_000),
  HUBSPOT_MAX_RPS: envNumber(9),
  HUBSPOT_BURST: envNumber(1),
  /**
   * The org's instance URL (a secret: it names the customer's org), or a local stand-in. Blank is
   * absent: an unused secret is given a single space (README, "Deploy to GCP").
   */
  SALESFORCE_INSTANCE_URL: z.preprocess((v) => (typeof v === 'string' && v.trim() === '' ? undefined : v), baseUrl),
  SALESFORCE_ACCESS_TOKEN: optionalText,
  SALESFORCE_API_VERSION: z.string().regex(/^v\d+\.\d$/, { message: 'must look like v60.0' }).default('v60.0'),
  SALESFORCE_TIMEOUT_MS: envNumber(10_000),
  SALESFORCE_MAX_RPS: envNumber(10),
  SALESFORCE_BURST: envNumber(1),
  /**
   * The refresh token flow of the connected app that issued SALESFORCE_ACCESS_TOKEN: with both the
   * consumer key and a refresh token, an expired access token (401 INVALID_SESSION_ID) is renewed
   * once (shared/adapters/salesforce-records.ts); without, it is a configuration fault.
   */
  SALESFORCE_CLIENT_ID: optionalText,
  SALESFORCE_CLIENT_SECRET: optionalText,
  SALESFORCE_REFRESH_TOKEN: optionalText,
  /** Where the token endpoint is: https://login.salesforce.com, https://test.salesforce.com (a sandbox), a My Domain, or a stand-in. */
  SALESFORCE_LOGIN_URL: z.preprocess((v) => (typeof v === 'string' && v.trim() === '' ? undefined : v), baseUrl),
  /** The country of a phone number written without its international prefix (ISO 3166-1 alpha-2). */
  CRM_DEFAULT_COUNTRY: z.string().regex(/^[A-Z]{2}$/, { message: 'must be an ISO 3166-1 alpha-2 code, e.g. US' }).default('US'),
});
export type CrmEnv = z.infer<typeof CrmEnv>;

export const RatesEnv = z.object({
  OXR_APP_ID: optionalText,
  /** A local stand-in, e.g. http://127.0.0.1:12113/api (replaces https://openexchangerates.org/api). */
  OXR_API_BASE: baseUrl,
  OXR_TIMEOUT_MS: envNumber(10_000),
  /** How long the rates of the current UTC day are kept before they are fetched again. */
  OXR_OPEN_DAY_TTL_SECONDS: envNumber(3600),
  /** A `--rates` file (DESIGN §7) instead of OpenExchangeRates, for local runs. */
  RATES_FILE: optionalText,
});
export type RatesEnv = z.infer<typeof RatesEnv>;

/** The longest a request waits for its rate-limit slot in a function: well inside the ack deadline. */
export const LIMITER_MAX_WAIT_MS = 30_000;

export interface ClientContext {
  readonly clock: Clock;
  readonly sleep?: Sleep;
  /** Longest wait for a rate-limit slot; beyond it the lookup fails transiently. */
  readonly maxWaitMs?: number;
}

/** Stripe PaymentIntents when STRIPE_API_KEY is set; `undefined` (check skipped) otherwise. */
export function stripeFromEnv(env: StripeEnv, ctx: ClientContext): StripePayments | undefined {
  if (!env.STRIPE_API_KEY) return undefined;
  return new StripePayments({
    apiKey: env.STRIPE_API_KEY,
    ...(env.STRIPE_API_BASE ? { apiBase: env.STRIPE_API_BASE } : {}),
    timeoutMs: env.STRIPE_TIMEOUT_MS,
    limiter: limiter('stripe', env.STRIPE_MAX_RPS, env.STRIPE_BURST, ctx),
    clock: ctx.clock,
  });
}

/** Twilio Calls when both TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are set. */
export function twilioFromEnv(env: TwilioEnv, ctx: ClientContext): TwilioCalls | undefined {
  if (!env.TWILIO_ACCOUNT_SID || !env.TWILIO_AUTH_TOKEN) return undefined;
  if (!env.TWILIO_ACCOUNT_SID.startsWith('AC')) throw new ConfigError('TWILIO_ACCOUNT_SID must start with AC');
  return new TwilioCalls({
    accountSid: env.TWILIO_ACCOUNT_SID,
    authToken: env.TWILIO_AUTH_TOKEN,
    ...(env.TWILIO_API_BASE ? { apiBase: env.TWILIO_API_BASE } : {}),
    timeoutMs: env.TWILIO_TIMEOUT_MS,
    limiter: limiter('twilio', env.TWILIO_MAX_RPS, env.TWILIO_BURST, ctx),
    clock: ctx.clock,
  });
}

/**
 * The CRM clients whose credentials are set, by CRM: HubSpot with HUBSPOT_ACCESS_TOKEN (and,
 * where `requireBase`, as replay asks, HUBSPOT_API_BASE too), Salesforce with
 * SALESFORCE_INSTANCE_URL and SALESFORCE_ACCESS_TOKEN. A CRM without is not checked.
 */
export function crmsFromEnv(env: CrmEnv, ctx: ClientContext, options: { requireBase?: boolean } = {}): { hubspot?: HubSpotContacts; salesforce?: SalesforceRecords } {
  const out: { hubspot?: HubSpotContacts; salesforce?: SalesforceRecords } = {};
  if (env.HUBSPOT_ACCESS_TOKEN && (env.HUBSPOT_API_BASE || !options.requireBase)) {
    out.hubspot = new HubSpotContacts({
      accessToken: env.HUBSPOT_ACCESS_TOKEN,
      ...(env.HUBSPOT_API_BASE ? { apiBase: env.HUBSPOT_API_BASE } : {}),
      timeoutMs: env.HUBSPOT_TIMEOUT_MS,
      limiter: limiter('hubspot', env.HUBSPOT_MAX_RPS, env.HUBSPOT_BURST, ctx),
      clock: ctx.clock,
    });
  }
  if (env.SALESFORCE_INSTANCE_URL && env.SALESFORCE_ACCESS_TOKEN) {
    out.salesforce = new SalesforceRecords({
      instanceUrl: env.SALESFORCE_INSTANCE_URL,
      accessToken: env.SALESFORCE_ACCESS_TOKEN,
      apiVersion: env.SALESFORCE_API_VERSION,
      timeoutMs: env.SALESFORCE_TIMEOUT_MS,
      limiter: limiter('salesforce', env.SALESFORCE_MAX_RPS, env.SALESFORCE_BURST, ctx),
      clock: ctx.clock,
      ...salesforceRefresh(env),
    });
  }
  return out;
}

/** The refresh token flow when both its consumer key and refresh token are set; one without the other is a configuration error. */
function salesforceRefresh(env: CrmEnv): { refresh?: SalesforceRefresh } {
  const { SALESFORCE_CLIENT_ID: clientId, SALESFORCE_REFRESH_TOKEN: refreshToken, SALESFORCE_CLIENT_SECRET: clientSecret } = env;
  if (!clientId && !refreshToken) return {};
  if (!clientId || !refreshToken) throw new ConfigError('Salesforce token refresh needs both SALESFORCE_CLIENT_ID and SALESFORCE_REFRESH_TOKEN (and SALESFORCE_CLIENT_SECRET where the connected app requires it)');
  const login = (env.SALESFORCE_LOGIN_URL ?? 'https://login.salesforce.com').replace(/\/+$/, '');
  return { refresh: { tokenUrl: `${login}/services/oauth2/token`, clientId, refreshToken, ...(clientSecret ? { clientSecret } : {}) } };
}

/** OpenExchangeRates (OXR_APP_ID) or a rates file (RATES_FILE); `undefined` when neither is set. */
export function ratesFromEnv(env: RatesEnv, ctx: ClientContext): OxrRates | FileRates | undefined {
  if (env.OXR_APP_ID && env.RATES_FILE) throw new ConfigError('set OXR_APP_ID or RATES_FILE, not both');
  if (env.RATES_FILE) return new FileRates(loadRatesFile(env.RATES_FILE));
  if (!env.OXR_APP_ID) return undefined;
  return new OxrRates({
    appId: env.OXR_APP_ID,
    ...(env.OXR_API_BASE ? { apiBase: env.OXR_API_BASE } : {}),
    timeoutMs: env.OXR_TIMEOUT_MS,
    openDayTtlMs: env.OXR_OPEN_DAY_TTL_SECONDS * 1000,
    clock: ctx.clock,
  });
}

/** Reads and validates a `--rates` file; a ConfigError names what is wrong. */
export function loadRatesFile(path: string): RatesFile {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(`RATES_FILE ${path}: ${(err as Error).message}`);
  }
  const parsed = RatesFile.safeParse(value);
  if (!parsed.success) throw new ConfigError(`RATES_FILE ${path}:\n${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

function limiter(name: string, rps: number, burst: number, ctx: ClientContext): RateLimiter {
  return new RateLimiter({
    name,
    ratePerSecond: rps,
    burst,
    clock: ctx.clock,
    ...(ctx.sleep ? { sleep: ctx.sleep } : {}),
    ...(ctx.maxWaitMs !== undefined ? { maxWaitMs: ctx.maxWaitMs } : {}),
  });
}
