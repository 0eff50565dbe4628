import { basicAuth, malformedReply, Scripts, startJsonServer, type FakeServer, type Fault, type JsonServerOptions, type Reply, type Scripted } from './http';

/**
 * A local stand-in for the Twilio REST API (the part the call-duration-checker reads): `GET
 * /2010-04-01/Accounts/:AccountSid/Calls/:CallSid.json`, with Twilio's bodies, status codes and
 * error bodies (`code`, `message`, `more_info`, `status`). Point the SDK at it with
 * TWILIO_API_BASE=<url> (the SDK's `client.api.baseUrl`).
 */

/** A Call as the stand-in should report it. */
export interface FakeCall {
  /** queued, ringing, in-progress, completed, busy, failed, no-answer, canceled */
  readonly status: string;
  /** Whole seconds; `null` where Twilio leaves it empty (busy, failed, unanswered, ongoing). */
  readonly duration: number | null;
  readonly from?: string;
  readonly to?: string;
}

export interface TwilioFixtures {
  readonly accountSid: string;
  readonly authToken: string;
  /** By Call SID; a SID not listed is unknown to Twilio (404). */
  readonly calls: Record<string, Scripted<FakeCall | Fault>>;
}

const STARTED = new Date(Date.UTC(2026, 2, 1, 9, 59, 0));

export function startTwilioFake(fixtures: TwilioFixtures, options: JsonServerOptions = {}): Promise<FakeServer> {
  const scripts = new Scripts<FakeCall | Fault>();
  return startJsonServer((req, url, record) => {
    const auth = basicAuth(req);
    const authorized = auth !== undefined && auth.user === fixtures.accountSid && auth.password === fixtures.authToken;
    record(authorized);
    if (!authorized) {
      return twilioError(401, 20003, 'Authenticate', { 'www-authenticate': 'Basic realm="Twilio API"' });
    }
    const m = /^\/2010-04-01\/Accounts\/([^/]+)\/Calls\/([^/]+)\.json$/.exec(url.pathname);
    if (req.method !== 'GET' || !m || m[1] !== fixtures.accountSid) {
      return twilioError(404, 20404, `The requested resource ${url.pathname} was not found`);
    }
    const sid = decodeURIComponent(m[2]!);
    const found = scripts.next(sid, Object.hasOwn(fixtures.calls, sid) ? fixtures.calls[sid] : undefined);
    if (found === undefined || ('fault' in found && found.fault === 'not_found')) {
      return twilioError(404, 20404, `The requested resource ${url.pathname} was not found`);
    }
    if ('fault' in found) {
      switch (found.fault) {
        case 'rate_limit':
          return twilioError(429, 20429, 'Too Many Requests', found.retryAfterSeconds === undefined ? {} : { 'retry-after': String(found.retryAfterSeconds) });
        case 'server_error':
          return twilioError(found.status ?? 500, 20500, 'Internal Server Error');
        case 'malformed':
          return malformedReply(callResource(fixtures.accountSid, sid, { status: 'completed', duration: null }));
        case 'hang':
          return { hang: true };
        default: {
          const never: never = found;
          throw new Error(`unknown fault ${JSON.stringify(never)}`);
        }
      }
    }
    return { status: 200, body: callResource(fixtures.accountSid, sid, found) };
  }, options);
}

/** The Call resource as the Twilio API returns it (dates in RFC 2822, duration a string). */
function callResource(accountSid: string, sid: string, call: FakeCall) {
  const ended = call.duration !== null && call.status === 'completed';
  const end = new Date(STARTED.getTime() + (call.duration ?? 0) * 1000);
  const uri = `/2010-04-01/Accounts/${accountSid}/Calls/${sid}.json`;
  return {
    account_sid: accountSid,
    annotation: null,
    answered_by: null,
    api_version: '2010-04-01',
    caller_name: null,
    date_created: STARTED.toUTCString().replace('GMT', '+0000'),
    date_updated: end.toUTCString().replace('GMT', '+0000'),
    direction: 'outbound-api',
    duration: call.duration === null ? null : String(call.duration),
    end_time: ended ? end.toUTCString().replace('GMT', '+0000') : null,
    forwarded_from: null,
    from: call.from ?? '+14155550100',
    from_formatted: call.from ?? '(415) 555-0100',
    group_sid: null,
    parent_call_sid: null,
    phone_number_sid: null,
    price: ended ? '-0.01300' : null,
    price_unit: 'USD',
    queue_time: '0',
    sid,
    start_time: STARTED.toUTCString().replace('GMT', '+0000'),
    status: call.status,
    subresource_uris: {
      notifications: uri.replace('.json', '/Notifications.json'),
      recordings: uri.replace('.json', '/Recordings.json'),
    },
    to: call.to ?? '+14155550101',
    to_formatted: call.to ?? '(415) 555-0101',
    trunk_sid: null,
    uri,
  };
}

function twilioError(status: number, code: number, message: string, headers: Record<string, string> = {}): Reply {
  return { status, body: { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status }, headers };
}
