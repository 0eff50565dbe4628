import { randomUUID } from 'node:crypto';
import { malformedReply, Scripts, startJsonServer, type FakeServer, type Fault, type JsonServerOptions, type Reply, type Scripted } from './http';

/**
 * A local stand-in for HubSpot's CRM v3 contacts (the part crm-checker reads and, with repair on,
 * writes): `GET /crm/v3/objects/contacts/{contactId}?properties=email,phone` and `PATCH` of the
 * same path with `{properties}`, answering in HubSpot's shapes (its public OpenAPI spec of CRM
 * contacts, and https://developers.hubspot.com/docs/api-reference/error-handling): a contact is
 * `{id, properties, createdAt, updatedAt, archived}` whose `properties` hold the ones asked for
 * plus `createdate`, `hs_object_id` and `lastmodifieddate`, values as strings or null; an error
 * is `{status: "error", message, correlationId, category}` (404 `OBJECT_NOT_FOUND`, 401
 * `INVALID_AUTHENTICATION`; a 429 says `errorType: "RATE_LIMIT"` and its `policyName`). Point the
 * client at it with HUBSPOT_API_BASE=<url> (its `basePath`).
 */

/** A contact's fields as the stand-in should hold them (`null`: the property is empty). */
export interface FakeContact {
  readonly email: string | null;
  readonly phone: string | null;
}

export interface HubSpotFixtures {
  readonly accessToken: string;
  /** By contact id; an id not listed is unknown to HubSpot (404). */
  readonly contacts: Record<string, Scripted<FakeContact | Fault>>;
}

/** A running HubSpot stand-in, and the contacts a PATCH wrote. */
export interface HubSpotFake extends FakeServer {
  written(id: string): FakeContact | undefined;
}

const CREATED = '2026-03-01T09:59:00.000Z';
const UPDATED = '2026-03-01T10:00:00.000Z';

export async function startHubSpotFake(fixtures: HubSpotFixtures, options: JsonServerOptions = {}): Promise<HubSpotFake> {
  const scripts = new Scripts<FakeContact | Fault>();
  const written = new Map<string, FakeContact>();
  const server = await startJsonServer(
    (req, url, record, body) => {
      const authorized = req.headers.authorization === `Bearer ${fixtures.accessToken}`;
      record(authorized);
      if (!authorized) {
        return hubspotError(401, 'INVALID_AUTHENTICATION', 'Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview');
      }
      const m = /^\/crm\/v3\/objects\/contacts\/([^/]+)$/.exec(url.pathname);
      if (!m || (req.method !== 'GET' && req.method !== 'PATCH')) return hubspotError(404, 'OBJECT_NOT_FOUND', `Unable to route ${req.method ?? ''} ${url.pathname}`);
      const id = decodeURIComponent(m[1]!);
      const scripted = scripts.next(id, Object.hasOwn(fixtures.contacts, id) ? fixtures.contacts[id] : undefined);
      const found = scripted !== undefined && !('fault' in scripted) ? (written.get(id) ?? scripted) : scripted;
      if (found === undefined || ('fault' in found && found.fault === 'not_found')) {
        return hubspotError(404, 'OBJECT_NOT_FOUND', 'Object not found.  objectId are usually numeric.', { context: { id: [id] } });
      }
      if ('fault' in found) return faultReply(found, id);
      if (req.method === 'PATCH') {
        const props = patchProperties(body);
        if (!props) return hubspotError(400, 'VALIDATION_ERROR', 'Invalid input JSON on line 1: expected {"properties": {...}}');
        const next = { email: props.email ?? found.email, phone: props.phone ?? found.phone };
        written.set(id, next);
        return { status: 200, body: contactResource(id, next, ['email', 'phone']) };
      }
      const asked = (url.searchParams.get('properties') ?? '').split(',').concat(url.searchParams.getAll('properties')).filter(Boolean);
      return { status: 200, body: contactResource(id, found, asked) };
    },
    { ...options, readBody: true },
  );
  return Object.assign(server, { written: (id: string) => written.get(id) });
}

function patchProperties(body: string): { email?: string; phone?: string } | undefined {
  try {
    const value = JSON.parse(body) as { properties?: Record<string, unknown> };
    const p = value.properties;
    if (p === null || typeof p !== 'object') return undefined;
    return {
      ...(typeof p.email === 'string' ? { email: p.email } : {}),
      ...(typeof p.phone === 'string' ? { phone: p.phone } : {}),
    };
  } catch {
    return undefined;
  }
}

function faultReply(fault: Exclude<Fault, { fault: 'not_found' }>, id: string): Reply {
  switch (fault.fault) {
    case 'rate_limit':
      return hubspotError(429, undefined, 'You have reached your secondly limit.', { errorType: 'RATE_LIMIT', policyName: 'SECONDLY' }, fault.retryAfterSeconds === undefined ? {} : { 'retry-after': String(fault.retryAfterSeconds) });
    case 'server_error':
      return hubspotError(fault.status ?? 500, undefined, 'Service Unavailable', {}, fault.status === 503 ? { 'retry-after': '1' } : {});
    case 'malformed':
      return malformedReply(contactResource(id, { email: null, phone: null }, ['email', 'phone']));
    case 'hang':
      return { hang: true };
    default: {
      const never: never = fault;
      throw new Error(`unknown fault ${JSON.stringify(never)}`);
    }
  }
}

/** A contact as HubSpot returns it: the properties asked for, and the three it always adds. */
function contactResource(id: string, contact: FakeContact, asked: readonly string[]) {
  const properties: Record<string, string | null> = { createdate: CREATED, hs_object_id: id, lastmodifieddate: UPDATED };
  for (const name of asked) if (name === 'email' || name === 'phone') properties[name] = contact[name];
  return { id, properties, createdAt: CREATED, updatedAt: UPDATED, archived: false };
}

function hubspotError(status: number, category: string | undefined, message: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): Reply {
  return { status, body: { status: 'error', message, correlationId: randomUUID(), ...(category ? { category } : {}), ...extra }, headers };
}
