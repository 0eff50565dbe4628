import { timingSafeEqual } from 'node:crypto';
import { OAuth2Client } from 'google-auth-library';

/**
 * Who may call which path of dlq-triage (DESIGN §5, issue 18.10, issue 20.6). The caller's
 * identity comes only from an ID token whose signature, issuer, expiry and audience were verified
 * here, never from a claim read unverified: Cloud Run admits a request on the token it verified
 * (which may be `X-Serverless-Authorization`), so a bare decode of `Authorization` would let any
 * invoker name anyone. Then, per path:
 * - the push path (`/projects/P/topics/T`) only for the push identity (the service account whose
 *   OIDC token Pub/Sub attaches to every push), in GCP and locally alike;
 * - the operator API (`/v1/...`) never for the push identity, and in `iam` mode only for the
 *   operator members; in `token` mode (local) for the bearer token of the configuration.
 *
 * Pub/Sub's push token: RS256, `iss` https://accounts.google.com, `aud` the push endpoint's
 * audience (by default the endpoint URL), `email` the push service account, `email_verified`
 * (https://cloud.google.com/pubsub/docs/authenticate-push-subscriptions).
 */

/** The claims of a verified ID token that authorization reads. */
export interface VerifiedIdentity {
  readonly email: string;
  readonly emailVerified: boolean;
}

/** Verifies a Google-signed ID token; resolves undefined when it is not valid for any of `audiences`. */
export interface IdTokenVerifier {
  verify(token: string, audiences: readonly string[]): Promise<VerifiedIdentity | undefined>;
}

/** Google's ID-token signing certificates (PEM), the ones google-auth-library reads by default. */
export const GOOGLE_CERTS_URL = 'https://www.googleapis.com/oauth2/v1/certs';

/**
 * The verifier on google-auth-library's `OAuth2Client.verifyIdToken`: signature against the
 * certificates at `certsUrl` (cached as their Cache-Control says), issuer accounts.google.com,
 * expiry, audience. A local stack points `certsUrl` at its own loopback issuer.
 */
export class GoogleIdTokenVerifier implements IdTokenVerifier {
  private readonly client: OAuth2Client;

  constructor(certsUrl: string = GOOGLE_CERTS_URL) {
    // Node's own fetch: gaxios otherwise imports node-fetch dynamically, which a VM context
    // (Jest's) cannot, and the runtime has fetch built in.
    this.client = new OAuth2Client({ endpoints: { oauth2FederatedSignonPemCertsUrl: certsUrl }, transporterOptions: { fetchImplementation: fetch } });
  }

  async verify(token: string, audiences: readonly string[]): Promise<VerifiedIdentity | undefined> {
    let payload;
    try {
      payload = (await this.client.verifyIdToken({ idToken: token, audience: [...audiences] })).getPayload();
    } catch (err) {
      // A certificate fetch that failed is a fault worth a retry, not a verdict on the token.
      if (/Failed to retrieve verification certificates/.test((err as Error).message)) throw err;
      return undefined;
    }
    if (!payload || typeof payload.email !== 'string') return undefined;
    return { email: payload.email.toLowerCase(), emailVerified: payload.email_verified === true };
  }
}

/** How the operator API is authenticated (the push path always takes the push identity's token). */
export type OperatorAuth =
  /** Local: a bearer token from configuration, compared in constant time. */
  | { readonly mode: 'token'; readonly token: string }
  /** GCP: a verified ID token of an operator member (IAM members as Terraform grants them). */
  | { readonly mode: 'iam'; readonly members: readonly string[] };

export interface AuthConfig {
  readonly operators: OperatorAuth;
  /** The push identity's email; without it the push path refuses every request. */
  readonly pushServiceAccount?: string;
  /** Audiences accepted beside the URL the request was sent to (e.g. a custom push audience). */
  readonly audiences: readonly string[];
  readonly verifier?: IdTokenVerifier;
}

/** The verdict on one request: the audit's name for the caller, or the status and reason of a refusal. */
export type AuthVerdict = { readonly ok: true; readonly actor: string } | { readonly ok: false; readonly status: 401 | 403; readonly reason: string };

/** What authorization reads of a request: no body, so it runs before one is read. */
export interface AuthRequest {
  readonly kind: 'push' | 'api';
  readonly authorization: string | undefined;
  /** The `X-Operator` header: in token mode, the name the audit gives the holder of the token. */
  readonly operator: string | undefined;
  /** The URL (scheme and host) the request was sent to: the audience a token minted for this service carries. */
  readonly origin: string | undefined;
}

function bearer(header: string | undefined): string | undefined {
  const m = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  return m ? m[1] : undefined;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const refuse = (status: 401 | 403, reason: string): AuthVerdict => ({ ok: false, status, reason });

/**
 * Whether an IAM member list admits `email`. `user:`, `serviceAccount:` match the email and
 * `domain:` its domain; a `group:` member cannot be checked from a token (an ID token names no
 * groups), so with one in the list any verified caller is admitted here: Cloud Run's IAM, which
 * admits only invokers (the operators, the push identity, project owners), checked membership
 * before the request arrived.
 */
export function isOperator(members: readonly string[], email: string): boolean {
  const e = email.toLowerCase();
  for (const member of members) {
    const [kind, value = ''] = member.split(/:(.*)/s, 2) as [string, string | undefined];
    const v = value.toLowerCase();
    if ((kind === 'user' || kind === 'serviceAccount') && v === e) return true;
    if (kind === 'domain' && e.endsWith(`@${v}`)) return true;
    if (kind === 'group') return true;
  }
  return false;
}

/** Authenticates and authorizes one request (before its body is read). */
export async function authorize(req: AuthRequest, config: AuthConfig): Promise<AuthVerdict> {
  const token = bearer(req.authorization);
  if (req.kind === 'api' && config.operators.mode === 'token') {
    if (!token || !config.operators.token || !sameSecret(token, config.operators.token)) return refuse(401, 'unauthenticated: send Authorization: Bearer <token>');
    const name = (req.operator ?? '').replace(/[^\w.@+-]/g, '').slice(0, 64);
    return { ok: true, actor: name ? `token:${name}` : 'token:unnamed' };
  }
  if (!token) return refuse(401, 'unauthenticated: send Authorization: Bearer <ID token>');
  if (!config.verifier) return refuse(401, 'unauthenticated: no ID-token verifier is configured');
  const audiences = [...(req.origin ? [req.origin] : []), ...config.audiences];
  const identity = await config.verifier.verify(token, audiences);
  if (!identity || !identity.emailVerified) return refuse(401, 'unauthenticated: the ID token is not valid for this service');
  const push = config.pushServiceAccount?.toLowerCase();
  if (req.kind === 'push') {
    if (!push) return refuse(403, 'forbidden: no push identity is configured (DLQ_PUSH_SERVICE_ACCOUNT)');
    if (identity.email !== push) return refuse(403, 'forbidden: only the push identity may push');
    return { ok: true, actor: `iam:${identity.email}` };
  }
  if (identity.email === push) return refuse(403, 'forbidden: the push identity may not call the operator API');
  if (config.operators.mode !== 'iam' || !isOperator(config.operators.members, identity.email)) return refuse(403, 'forbidden: not an operator');
  return { ok: true, actor: `iam:${identity.email}` };
}
