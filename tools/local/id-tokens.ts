import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for Google's ID-token issuer on loopback, so that the local stack authenticates
 * pushes as GCP does (issue 20.6): it signs RS256 ID tokens shaped like the OIDC token Pub/Sub
 * attaches to a push (`iss` https://accounts.google.com, `aud`, `azp`, `sub`, `email`,
 * `email_verified`, `iat`, `exp`: https://cloud.google.com/pubsub/docs/authenticate-push-subscriptions)
 * and serves its verification keys as Google's PEM endpoint does (`GET /oauth2/v1/certs`: a JSON
 * map of key id to PEM, with Cache-Control max-age). Google's values are X.509 certificates;
 * Node cannot make one, so the values here are the public keys in PEM, which the verifier's
 * `crypto.verify` takes alike. dlq-triage reads it through DLQ_AUTH_CERTS_URL.
 */
export class LocalIdTokenIssuer {
  /** The account whose token the local push gateway attaches, as Terraform's push identity. */
  static readonly PUSH_ACCOUNT = 'pubsub-push@local-project.iam.gserviceaccount.com';

  private constructor(
    private readonly server: Server,
    private readonly key: KeyObject,
    readonly kid: string,
    readonly certsUrl: string,
  ) {}

  static async start(): Promise<LocalIdTokenIssuer> {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const kid = createHash('sha1').update(pem).digest('hex');
    const body = JSON.stringify({ [kid]: pem });
    const server = createServer((req, res) => {
      if (req.method === 'GET' && req.url === '/oauth2/v1/certs') {
        res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8', 'cache-control': 'public, max-age=3600' }).end(body);
      } else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return new LocalIdTokenIssuer(server, privateKey, kid, `http://127.0.0.1:${port}/oauth2/v1/certs`);
  }

  /** An ID token for `email` with audience `aud`, valid for an hour from `nowMs` unless told otherwise. */
  mint(claims: { aud: string; email: string; emailVerified?: boolean; nowMs?: number; lifetimeSeconds?: number }, signWith: KeyObject = this.key): string {
    const iat = Math.floor((claims.nowMs ?? Date.now()) / 1000);
    const sub = createHash('sha256').update(claims.email).digest('hex').slice(0, 21).replace(/[a-f]/g, (c) => String(c.charCodeAt(0) % 10));
    const header = { alg: 'RS256', kid: this.kid, typ: 'JWT' };
    const payload = {
      aud: claims.aud,
      azp: sub,
      email: claims.email,
      email_verified: claims.emailVerified ?? true,
      exp: iat + (claims.lifetimeSeconds ?? 3600),
      iat,
      iss: 'https://accounts.google.com',
      sub,
    };
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const signed = `${b64(header)}.${b64(payload)}`;
    return `${signed}.${sign('RSA-SHA256', Buffer.from(signed), signWith).toString('base64url')}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * The push gateway's `authorization` option: the push identity's token for each function's URL,
 * minted once and reused until ten minutes before it expires (Pub/Sub's tokens may be up to an
 * hour old, and signing one per push would cost the stack a CPU it measures).
 */
export function pushTokens(issuer: LocalIdTokenIssuer, account = LocalIdTokenIssuer.PUSH_ACCOUNT): (fn: string, base: string) => string {
  const cache = new Map<string, { token: string; renewAt: number }>();
  return (_fn, base) => {
    const now = Date.now();
    let entry = cache.get(base);
    if (!entry || now >= entry.renewAt) {
      entry = { token: issuer.mint({ aud: base, email: account, nowMs: now }), renewAt: now + 50 * 60_000 };
      cache.set(base, entry);
    }
    return `Bearer ${entry.token}`;
  };
}
