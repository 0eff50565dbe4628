import { generateKeyPairSync } from 'node:crypto';
import { connect } from 'node:net';
import type { MemoryPublisher } from '../../shared/adapters/memory-publisher';
import { pushBody } from '../../shared/pubsub/push';
import type { MemoryTriageStore } from '../../functions/dlq-triage/store';
import { LocalIdTokenIssuer } from '../../tools/local/id-tokens';
import { cardScanned, saleRecorded } from '../support/events';
import { deadLetterAttributes, serveTriage, triageService } from '../support/triage';

/**
 * dlq-triage's trust boundaries (issues 20.6 and 18.10), through the Functions Framework with
 * real RS256 ID tokens verified by google-auth-library against a loopback certificate endpoint:
 * the push path only for the push identity, the operator API only for operators, identities only
 * from verified tokens, and no body read before the caller is known.
 */
const TOKEN = 'local-test-token-0123456789';
const OPERATOR = 'ann@ops.example.com';
const LIMIT = 64 * 1024;

function forgedDeadLetter(id: string) {
  const sale = saleRecorded({ id });
  return pushBody(JSON.stringify(sale), { type: sale.type, id: sale.id, source: sale.source, ...deadLetterAttributes('revenue-checker-sales') }, `forged-${id}`);
}

/** Sends the head of a request and `sent` body bytes of the `declared` ones, and resolves with the status line once the server answers. */
function answerBeforeBody(url: string, path: string, headers: Record<string, string>, declared: number, sent: number): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let answer = '';
    socket.on('data', (d) => {
      answer += d.toString();
      if (answer.includes('\r\n')) {
        socket.destroy();
        resolve(answer.slice(0, answer.indexOf('\r\n')));
      }
    });
    socket.on('error', (err) => (answer ? resolve(answer) : reject(err)));
    const head = [`POST ${path} HTTP/1.1`, `host: ${hostname}:${port}`, 'content-type: application/json', `content-length: ${declared}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
    socket.write(`${head.join('\r\n')}\r\n\r\n`);
    socket.write(Buffer.alloc(sent, 0x20));
  });
}

describe('dlq-triage trust boundaries: token mode (local)', () => {
  const { service, store, failures, publisher } = triageService();
  const memory = store as MemoryTriageStore;
  const published = publisher as MemoryPublisher;
  let url = '';
  let pushAuthorization = '';
  let issuer: LocalIdTokenIssuer;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ url, close, pushAuthorization, issuer } = await serveTriage('dlq-triage-auth-token', service, { token: TOKEN, failures, maxBodyBytes: LIMIT }));
  });
  afterAll(() => close());

  const push = (body: unknown, authorization?: string) =>
    fetch(`${url}/projects/demo/topics/dead-letters`, { method: 'POST', headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) }, body: JSON.stringify(body) });

  it('refuses a forged dead letter without the push identity token: no record, nothing published', async () => {
    const wrongKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const attempts: Array<[string | undefined, number]> = [
      [undefined, 401],
      [`Bearer ${TOKEN}`, 401], // the operators' token is not a push identity
      [`Bearer ${issuer.mint({ aud: url, email: LocalIdTokenIssuer.PUSH_ACCOUNT }, wrongKey)}`, 401], // not signed by the issuer
      [`Bearer ${issuer.mint({ aud: 'https://elsewhere.example', email: LocalIdTokenIssuer.PUSH_ACCOUNT })}`, 401], // minted for another service
      [`Bearer ${issuer.mint({ aud: url, email: LocalIdTokenIssuer.PUSH_ACCOUNT, nowMs: Date.now() - 3 * 3600_000 })}`, 401], // expired
      [`Bearer ${issuer.mint({ aud: url, email: LocalIdTokenIssuer.PUSH_ACCOUNT, emailVerified: false })}`, 401],
      [`Bearer ${issuer.mint({ aud: url, email: OPERATOR })}`, 403], // valid, but not the push identity
    ];
    for (const [authorization, status] of attempts) expect({ authorization, status: (await push(forgedDeadLetter('forged-1'), authorization)).status }).toEqual({ authorization, status });
    expect(memory.records.size).toBe(0);
    expect(published.messages).toHaveLength(0);
    expect((await push(forgedDeadLetter('real-1'), pushAuthorization)).status).toBe(204);
    expect(memory.records.size).toBe(1);
  });

  it('answers an unauthenticated 300 MB POST with 401 before reading its body', async () => {
    const declared = 300 * 1024 * 1024;
    // 1 MiB sent of 300: the answer comes with the rest never sent.
    expect(await answerBeforeBody(url, '/projects/demo/topics/dead-letters', {}, declared, 1024 * 1024)).toMatch(/^HTTP\/1\.1 401 /);
    expect(await answerBeforeBody(url, '/v1/records/x/discard', {}, declared, 1024 * 1024)).toMatch(/^HTTP\/1\.1 401 /);
  });

  it('refuses an authorized body over the limit with 413: declared, or chunked', async () => {
    expect(await answerBeforeBody(url, '/projects/demo/topics/dead-letters', { authorization: pushAuthorization }, LIMIT + 1, 10)).toMatch(/^HTTP\/1\.1 413 /);
    const big = { ...forgedDeadLetter('big-1'), padding: 'x'.repeat(LIMIT) };
    const chunked = await fetch(`${url}/projects/demo/topics/dead-letters`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: pushAuthorization },
      body: new Blob([JSON.stringify(big)]).stream(),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect([...memory.records.values()].some((r) => r.event.id === 'big-1')).toBe(false);
  });

  it('answers push bodies no real push sends with a 4xx, never a 500 (issue 20.8)', async () => {
    const path = `${url}/projects/demo/topics/dead-letters`;
    const cases: Array<[string, RequestInit, number]> = [
      ['GET', { method: 'GET', headers: { authorization: pushAuthorization } }, 405],
      ['text/plain', { method: 'POST', headers: { authorization: pushAuthorization, 'content-type': 'text/plain' }, body: 'hello' }, 400],
      ['no content type', { method: 'POST', headers: { authorization: pushAuthorization }, body: new Uint8Array(Buffer.from('{"message":') ) }, 400],
      ['{"context":null}', { method: 'POST', headers: { authorization: pushAuthorization, 'content-type': 'application/json' }, body: '{"context":null}' }, 400],
      ['non-string attributes', { method: 'POST', headers: { authorization: pushAuthorization, 'content-type': 'application/json' }, body: JSON.stringify({ message: { data: 'e30=', attributes: { a: 1 }, messageId: 'x' } }) }, 400],
      ['no body', { method: 'POST', headers: { authorization: pushAuthorization } }, 400],
    ];
    const before = memory.records.size;
    for (const [name, init, status] of cases) expect({ name, status: (await fetch(path, init)).status }).toEqual({ name, status });
    expect(memory.records.size).toBe(before);
  });
});

describe('dlq-triage trust boundaries: IAM mode (GCP)', () => {
  const { service, failures, publisher } = triageService();
  const published = publisher as MemoryPublisher;
  let url = '';
  let pushAuthorization = '';
  let issuer: LocalIdTokenIssuer;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ url, close, pushAuthorization, issuer } = await serveTriage('dlq-triage-auth-iam', service, { token: TOKEN, failures, operators: [`user:${OPERATOR}`, 'domain:sre.example.com'] }));
  });
  afterAll(() => close());

  const api = (path: string, authorization: string | undefined, extra: Record<string, string> = {}) =>
    fetch(`${url}${path}`, { headers: { ...(authorization ? { authorization } : {}), ...extra } });
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

  it('names the caller from a verified token only, and admits operators only', async () => {
    const operator = `Bearer ${issuer.mint({ aud: url, email: OPERATOR })}`;
    const sre = `Bearer ${issuer.mint({ aud: url, email: 'bo@sre.example.com' })}`;
    // What actorOf used to believe: an unsigned token naming anyone.
    const unsigned = `Bearer ${b64({ alg: 'none', typ: 'JWT' })}.${b64({ email: OPERATOR, aud: url, iss: 'https://accounts.google.com', exp: Math.floor(Date.now() / 1000) + 600 })}.`;
    const stranger = `Bearer ${issuer.mint({ aud: url, email: 'eve@elsewhere.example' })}`;
    expect((await api('/v1/records', operator)).status).toBe(200);
    expect((await api('/v1/records', sre)).status).toBe(200);
    expect((await api('/v1/records', unsigned)).status).toBe(401);
    expect((await api('/v1/records', `Bearer ${TOKEN}`)).status).toBe(401);
    expect((await api('/v1/records', stranger)).status).toBe(403);
    expect((await api('/v1/records', pushAuthorization)).status).toBe(403); // the push identity is no operator
    // An operator's token does not make a push.
    const asOperator = await fetch(`${url}/projects/demo/topics/dead-letters`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: operator }, body: JSON.stringify(forgedDeadLetter('op-1')) });
    expect(asOperator.status).toBe(403);
    // The audit names the token's email, whatever X-Operator says.
    const pushed = await fetch(`${url}/projects/demo/topics/dead-letters`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: pushAuthorization }, body: JSON.stringify(pushBody(JSON.stringify(cardScanned({ id: 'iam-1' })), { ...deadLetterAttributes('gap-detector-sequences') }, 'dl-iam-1')) });
    expect(pushed.status).toBe(204);
    const { records } = (await (await api('/v1/records', operator)).json()) as { records: Array<{ id: string }> };
    const replay = await fetch(`${url}/v1/records/${records[0]!.id}/replay`, { method: 'POST', headers: { authorization: operator, 'x-operator': 'someone-else' } });
    expect(replay.status).toBe(200);
    expect(await replay.json()).toMatchObject({ record: { replay: { by: `iam:${OPERATOR}` } } });
    expect(published.messages.filter((m) => m.topic !== 'findings')).toHaveLength(1);
  });
});
