import { subscribe } from 'node:diagnostics_channel';
import type { IncomingMessage, Server } from 'node:http';

/**
 * dlq-triage reads its request bodies itself, after authorization and up to a limit (issue
 * 20.6: an unauthenticated 300 MB POST used to be read whole, by the Functions Framework's body
 * parsers, 1 GB limit, before the 401). The framework parses every body before any user code
 * runs and has no option against it; so on the servers gated here the request's framing headers
 * are moved aside when the request starts (Node's `http.server.request.start` diagnostics
 * channel, published before the server's `request` event,
 * https://nodejs.org/api/diagnostics_channel.html#http), its parsers then see no body and skip
 * it, and the stream stays unread until {@link readBody}. Cloud Run in front does the same on
 * its side (IAM before the container, 32 MiB per HTTP/1 request).
 */

const FRAMING = Symbol('dlq-triage.framing');

interface Framing {
  readonly contentLength: string | undefined;
  readonly transferEncoding: string | undefined;
}

type Gated = IncomingMessage & { [FRAMING]?: Framing };

const servers = new WeakSet<Server>();
let wholeProcess = false;
let subscribed = false;

function ensureSubscribed(): void {
  if (subscribed) return;
  subscribed = true;
  subscribe('http.server.request.start', (message) => {
    const { request, server } = message as { request: Gated; server: Server };
    if (!wholeProcess && !servers.has(server)) return;
    const h = request.headers;
    request[FRAMING] = { contentLength: h['content-length'], transferEncoding: h['transfer-encoding'] };
    delete h['content-length'];
    delete h['transfer-encoding'];
  });
}

/**
 * Gates every HTTP server of this process (a process that serves only dlq-triage, as Cloud Run
 * and the local stack run it: FUNCTION_TARGET=dlq-triage), or one server (an in-process test).
 */
export function gateBodies(which: 'process' | Server): void {
  ensureSubscribed();
  if (which === 'process') wholeProcess = true;
  else servers.add(which);
}

export class BodyError extends Error {
  constructor(
    readonly status: 400 | 413,
    message: string,
  ) {
    super(message);
  }
}

/** Whether the request's body is still unread (gated), rather than parsed by the framework. */
export function isGated(req: IncomingMessage): boolean {
  return (req as Gated)[FRAMING] !== undefined;
}

/** The declared length of a gated request, or undefined (chunked, or not gated). */
export function declaredLength(req: IncomingMessage): number | undefined {
  const v = (req as Gated)[FRAMING]?.contentLength;
  return v === undefined ? undefined : Number(v);
}

/**
 * Reads a gated request's body, at most `limit` bytes: a declared length over it is refused
 * before a byte is read, a chunked body as soon as it passes it (the rest is not kept).
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const framing = (req as Gated)[FRAMING];
  if (!framing || (framing.contentLength === undefined && framing.transferEncoding === undefined)) return Buffer.alloc(0);
  const declared = declaredLength(req);
  if (declared !== undefined && declared > limit) throw new BodyError(413, `request body of ${declared} bytes is over the limit of ${limit}`);
  // Listeners, not `for await`: leaving that loop destroys the request, and its socket with it,
  // before the 413 could be answered.
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (err?: Error) => {
      req.off('data', onData).off('end', onEnd).off('error', onError);
      if (err) {
        req.pause();
        reject(err);
      } else resolve(Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) done(new BodyError(413, `request body over the limit of ${limit} bytes`));
      else chunks.push(chunk);
    };
    const onEnd = () => done();
    const onError = (err: Error) => done(new BodyError(400, `request body unreadable: ${err.message}`));
    req.on('data', onData).on('end', onEnd).on('error', onError);
  });
}
