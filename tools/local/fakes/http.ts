import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a stand-in answers: a JSON reply, or nothing at all until it is closed (a hung upstream). */
export type Reply =
  | { readonly status: number; readonly body: unknown; readonly headers?: Record<string, string> }
  /** Bytes sent as they are (a body that is not valid JSON). */
  | { readonly status: number; readonly text: string; readonly headers?: Record<string, string> }
  | { readonly hang: true };

/** A fault a stand-in answers with instead of the resource (each API words its error body its own way). */
export type Fault =
  /** `shouldRetry`: Stripe's `Stripe-Should-Retry` header, where the API sends one. */
  | { readonly fault: 'rate_limit'; readonly retryAfterSeconds?: number; readonly shouldRetry?: boolean }
  | { readonly fault: 'server_error'; readonly status?: number }
  | { readonly fault: 'not_found' }
  /** Never answers: the client's timeout has to end the request. */
  | { readonly fault: 'hang' }
  /** 200 with a JSON body cut off mid-object: a broken proxy or a truncated response. */
  | { readonly fault: 'malformed' };

/** The answer to a `malformed` fault: the resource's JSON, cut off mid-object. */
export function malformedReply(body: unknown): Reply {
  const text = JSON.stringify(body);
  return { status: 200, text: text.slice(0, Math.floor(text.length / 2)) };
}

/** One request a stand-in received, for tests and the local report (credentials are not kept). */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, string>;
  /** Whether the request carried the credentials the stand-in expects. */
  readonly authorized: boolean;
  /** Milliseconds since the stand-in started. */
  readonly at: number;
}

/** A running stand-in: where it listens and how to stop it. */
export interface FakeServer {
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** The most requests it was answering at once (a client's concurrency, as the API sees it). */
  readonly peakInFlight: number;
  close(): Promise<void>;
}

export interface JsonServerOptions {
  port?: number;
  pathPrefix?: string;
  /** Answer this many ms after the request arrived (an API's latency), per request path or fixed. */
  latencyMs?: number | ((path: string) => number);
  /** Read the request body before routing and hand it to the route (a stand-in that takes writes). */
  readBody?: boolean;
}

export type Route = (req: IncomingMessage, url: URL, record: (authorized: boolean) => void, body: string) => Reply;

/** Starts a JSON stand-in on a free loopback port (or `port`). */
export async function startJsonServer(route: Route, options: JsonServerOptions = {}): Promise<FakeServer> {
  const requests: RecordedRequest[] = [];
  const started = Date.now();
  let inFlight = 0;
  let peakInFlight = 0;
  const latency = options.latencyMs;
  const server: Server = createServer((req, res) => {
    if (!options.readBody) {
      req.resume();
      handle(req, res, '');
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  const handle = (req: IncomingMessage, res: ServerResponse, requestBody: string) => {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const record = (authorized: boolean) =>
      requests.push({ method: req.method ?? 'GET', path: url.pathname, query: Object.fromEntries(url.searchParams), authorized, at: Date.now() - started });
    let reply: Reply;
    try {
      reply = route(req, url, record, requestBody);
    } catch (err) {
      reply = { status: 500, body: { error: `stand-in failure: ${(err as Error).message}` } };
    }
    if ('hang' in reply) return; // answered by close()
    const body = 'text' in reply ? reply.text : JSON.stringify(reply.body);
    const answer = () => {
      inFlight--;
      if (res.destroyed) return;
      res.writeHead(reply.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...reply.headers });
      res.end(body);
    };
    peakInFlight = Math.max(peakInFlight, ++inFlight);
    const delay = typeof latency === 'function' ? latency(url.pathname) : (latency ?? 0);
    if (delay > 0) setTimeout(answer, delay);
    else answer();
  };
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${options.pathPrefix ?? ''}`,
    requests,
    get peakInFlight() {
      return peakInFlight;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * A fixture value is one reply for every request, or a script: replies in order, the last one
 * repeating (e.g. `[rateLimited, found]` answers 429 once, then the resource).
 */
export type Scripted<T> = T | readonly T[];

export class Scripts<T> {
  private readonly served = new Map<string, number>();

  next(key: string, value: Scripted<T> | undefined): T | undefined {
    if (value === undefined) return undefined;
    if (!isList(value)) return value;
    const n = this.served.get(key) ?? 0;
    this.served.set(key, n + 1);
    return value[Math.min(n, value.length - 1)];
  }
}

function isList<T>(value: Scripted<T>): value is readonly T[] {
  return Array.isArray(value);
}

/** The credentials of HTTP basic auth, if the request has them. */
export function basicAuth(req: IncomingMessage): { user: string; password: string } | undefined {
  const m = /^Basic (.+)$/i.exec(req.headers.authorization ?? '');
  if (!m) return undefined;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = text.indexOf(':');
  return i < 0 ? undefined : { user: text.slice(0, i), password: text.slice(i + 1) };
}
