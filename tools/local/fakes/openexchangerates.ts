import { Scripts, startJsonServer, type FakeServer, type Fault, type Reply, type Scripted, malformedReply } from './http';

/**
 * A local stand-in for OpenExchangeRates' historical endpoint: `GET
 * /api/historical/YYYY-MM-DD.json`, app id in `app_id` or `Authorization: Token …`, with its
 * bodies and error bodies (`error`, `status`, `message`, `description`). Its `url` ends in
 * `/api`: point the client at it with OXR_API_BASE=<url>.
 */

export interface OxrFixtures {
  /** The app id requests must carry; any when absent. */
  readonly appId?: string;
  /** Rates per 1 USD by UTC day, as in a `--rates` file; a day not listed is `not_available`. */
  readonly days: Record<string, Record<string, number>>;
  /** Faults to answer with instead, by day (scripted: e.g. one 429, then the rates). */
  readonly faults?: Record<string, Scripted<Fault | 'rates'>>;
}

export function startOxrFake(fixtures: OxrFixtures, options: { port?: number } = {}): Promise<FakeServer> {
  const scripts = new Scripts<Fault | 'rates'>();
  return startJsonServer(
    (req, url, record) => {
      const appId = url.searchParams.get('app_id') ?? /^Token (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
      const authorized = appId !== undefined && (fixtures.appId === undefined || appId === fixtures.appId);
      record(authorized);
      if (appId === undefined) return oxrError(401, 'missing_app_id', 'No App ID provided. Please sign up at https://openexchangerates.org/signup, or contact support@openexchangerates.org.');
      if (!authorized) return oxrError(401, 'invalid_app_id', 'Invalid App ID provided. Please sign up at https://openexchangerates.org/signup, or contact support@openexchangerates.org.');
      const m = /^\/api\/historical\/(\d{4}-\d{2}-\d{2})\.json$/.exec(url.pathname);
      if (req.method !== 'GET' || !m) return oxrError(404, 'not_found', 'Client requested a non-existent resource/route.');
      const day = m[1]!;
      const fault = scripts.next(day, fixtures.faults?.[day]);
      if (fault !== undefined && fault !== 'rates') {
        switch (fault.fault) {
          case 'rate_limit':
            return oxrError(429, 'access_restricted', 'Access restricted for repeated over-use (status: 429).', fault.retryAfterSeconds === undefined ? {} : { 'retry-after': String(fault.retryAfterSeconds) });
          case 'server_error':
            return oxrError(fault.status ?? 500, 'server_error', 'Something went wrong on our end.');
          case 'not_found':
            return oxrError(404, 'not_found', 'Client requested a non-existent resource/route.');
          case 'malformed':
            return malformedReply({ disclaimer: 'Usage subject to terms: https://openexchangerates.org/terms', base: 'USD', rates: {} });
          case 'hang':
            return { hang: true };
          default: {
            const never: never = fault;
            throw new Error(`unknown fault ${JSON.stringify(never)}`);
          }
        }
      }
      const rates = Object.hasOwn(fixtures.days, day) ? fixtures.days[day] : undefined;
      if (!rates) {
        return oxrError(400, 'not_available', 'Historical rates for the requested date are not available - please try a different date, or contact support@openexchangerates.org.');
      }
      return {
        status: 200,
        body: {
          disclaimer: 'Usage subject to terms: https://openexchangerates.org/terms',
          license: 'https://openexchangerates.org/license',
          timestamp: Date.parse(`${day}T23:59:59Z`) / 1000,
          base: 'USD',
          rates: { ...rates, USD: 1 },
        },
      };
    },
    { ...options, pathPrefix: '/api' },
  );
}

function oxrError(status: number, message: string, description: string, headers: Record<string, string> = {}): Reply {
  return { status, body: { error: true, status, message, description }, headers };
}
