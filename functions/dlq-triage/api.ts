import type { CloudEvent, Request, Response } from '@google-cloud/functions-framework';
import { z } from 'zod';
import type { Logger } from '../../shared/log';
import type { MessagePublishedData } from '../../shared/pubsub/push';
import { authorize, type AuthConfig } from './auth';
import { BodyError, declaredLength, isGated, readBody } from './body';
import { BulkReplayBody, DiscardBody, DOCUMENT_ID, FixBody, ListQuery, PageToken, RecordFilter, RunBody } from './records';
import type { TriageService } from './service';

export interface ApiDeps {
  readonly service: TriageService;
  readonly auth: AuthConfig;
  readonly logger: Logger;
  /** The push path: a push body handed to the shared error boundary (the same CloudEvent handler other functions register). */
  readonly push: (ce: CloudEvent<MessagePublishedData>) => Promise<void>;
  /** The largest request body read (default 32 MiB, Cloud Run's limit for an HTTP/1 request). */
  readonly maxBodyBytes?: number;
}

/**
 * Cloud Run's request size limit for HTTP/1 (https://cloud.google.com/run/quotas#cloud_run_limits);
 * a push of Pub/Sub's largest message (10 MB, base64 in JSON) stays under it.
 */
export const MAX_BODY_BYTES = 32 * 1024 * 1024;

const PUSH_PATH = /^\/projects\/([^/]+)\/topics\/([^/?]+)$/;

/** The raw body a push subscription POSTs. */
const PushBody = z.object({
  message: z.object({
    data: z.string().optional(),
    attributes: z.record(z.string(), z.string()).optional(),
    messageId: z.string().optional(),
    message_id: z.string().optional(),
    publishTime: z.string().optional(),
  }),
  subscription: z.string().optional(),
});

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body?: unknown,
  ) {
    super(message);
  }
}

function parse<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const parsed = schema.safeParse(value ?? {});
  if (!parsed.success) throw new HttpError(400, z.prettifyError(parsed.error));
  return parsed.data;
}

/** The JSON body of a request: read here when gated (after authorization), else as the framework parsed it. */
async function jsonBody(req: Request, limit: number): Promise<unknown> {
  let raw: unknown = req.body;
  if (isGated(req)) {
    const bytes = await readBody(req, limit);
    raw = bytes.length === 0 ? undefined : bytes;
  }
  if (raw === undefined) return undefined;
  if (Buffer.isBuffer(raw) || typeof raw === 'string') {
    const text = raw.toString();
    if (text.trim() === '') return undefined;
    try {
      return JSON.parse(text);
    } catch {
      throw new HttpError(400, 'the body is not JSON');
    }
  }
  return raw;
}

/** Answers without reading the rest of an unread body, and closes the connection so nobody sends it. */
function answerEarly(req: Request, res: Response, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (isGated(req) && !req.readableEnded) res.set('connection', 'close');
  res.status(status).set(headers).json(body);
}

/**
 * dlq-triage's one HTTP entry point (registered as `dlq-triage`): the push subscriptions of the
 * manifest POST to `/projects/P/topics/T`, operators call `/v1/...`. One function, so the
 * manifest, Terraform and the local stack see the six functions they know. Every request is
 * authorized for its path (auth.ts) before its body is read, and the body is read up to a limit.
 */
export function triageHttp(deps: ApiDeps) {
  const { service } = deps;
  const limit = deps.maxBodyBytes ?? MAX_BODY_BYTES;
  return async (req: Request, res: Response): Promise<void> => {
    try {
      const path = req.path.replace(/\/+$/, '') || '/';
      const push = PUSH_PATH.exec(path);
      const kind = push ? 'push' : path.startsWith('/v1/') ? 'api' : undefined;
      if (kind === undefined) return answerEarly(req, res, 404, { error: `no route ${req.method} ${path}` });
      if (kind === 'push' && req.method !== 'POST') return answerEarly(req, res, 405, { error: 'a push is a POST' }, { allow: 'POST' });
      const verdict = await authorize(
        { kind, authorization: req.header('authorization'), operator: req.header('x-operator'), origin: req.header('host') ? `${req.protocol}://${req.header('host')}` : undefined },
        deps.auth,
      );
      if (!verdict.ok) {
        deps.logger.log('WARNING', `triage: ${kind === 'push' ? 'push' : 'API request'} refused: ${verdict.reason}`, { method: req.method, path, status: verdict.status });
        return answerEarly(req, res, verdict.status, { error: verdict.reason }, verdict.status === 401 ? { 'www-authenticate': 'Bearer' } : {});
      }
      const declared = declaredLength(req);
      if (declared !== undefined && declared > limit) return answerEarly(req, res, 413, { error: `request body of ${declared} bytes is over the limit of ${limit}` });
      const body = await jsonBody(req, limit);
      if (push) {
        const parsed = PushBody.safeParse(body);
        if (!parsed.success) throw new HttpError(400, 'not a Pub/Sub push body');
        const ce = {
          specversion: '1.0',
          id: parsed.data.message.messageId ?? parsed.data.message.message_id ?? '',
          source: `//pubsub.googleapis.com/projects/${push[1]}/topics/${push[2]}`,
          type: 'google.cloud.pubsub.topic.v1.messagePublished',
          data: parsed.data as MessagePublishedData,
          ...(req.header('traceparent') ? { traceparent: req.header('traceparent') } : {}),
        } as CloudEvent<MessagePublishedData>;
        try {
          await deps.push(ce);
        } catch {
          res.status(500).send('failed; Pub/Sub will redeliver');
          return;
        }
        res.status(204).end();
        return;
      }
      const result = await route(service, req.method, path, req.query, body, verdict.actor);
      res.status(result.status).json(result.body);
    } catch (err) {
      if (err instanceof HttpError || err instanceof BodyError) {
        if (err instanceof BodyError) return answerEarly(req, res, err.status, { error: err.message });
        res.status(err.status).json((err as HttpError).body ?? { error: err.message });
        return;
      }
      deps.logger.log('ERROR', `triage API: ${(err as Error).message}`, { path: req.path });
      res.status(500).json({ error: 'internal error; see the function log' });
    }
  };
}

const STATUS_OF = { published: 200, skipped: 409, refused: 422, failed: 502, rejected: 422, valid: 200, ok: 200 } as const;

async function route(service: TriageService, method: string, path: string, query: unknown, body: unknown, actor: string): Promise<{ status: number; body: unknown }> {
  let parts: string[];
  try {
    parts = path.split('/').slice(2).map(decodeURIComponent);
  } catch {
    throw new HttpError(400, 'malformed percent-encoding in the path');
  }
  const [collection, id, verb] = parts;
  // An id this API never gave out names nothing (and must not reach the store: records.ts DOCUMENT_ID).
  if (id !== undefined && !DOCUMENT_ID.test(id)) throw new HttpError(404, `no ${collection === 'bulk-replays' ? 'bulk replay' : 'record'} ${JSON.stringify(id.slice(0, 80))}`);
  if (collection === 'records') {
    if (method === 'GET' && id === undefined) return { status: 200, body: await service.list(parse(ListQuery, query)) };
    if (method === 'GET' && id !== undefined && verb === undefined) {
      const record = await service.get(id);
      if (!record) throw new HttpError(404, `no record ${id}`);
      return { status: 200, body: record };
    }
    if (method === 'POST' && id !== undefined && verb === 'replay') {
      const r = await service.replay(id, actor);
      return { status: r.record === undefined && r.outcome === 'refused' ? 404 : STATUS_OF[r.outcome], body: r };
    }
    if (method === 'POST' && id !== undefined && verb === 'fix') {
      const r = await service.fix(id, parse(FixBody, body), actor);
      return { status: 'record' in r && r.record === undefined && r.outcome === 'refused' ? 404 : STATUS_OF[r.outcome], body: r };
    }
    if (method === 'POST' && id !== undefined && verb === 'discard') {
      const r = await service.discard(id, parse(DiscardBody, body).reason, actor);
      return { status: r.outcome === 'refused' ? 404 : STATUS_OF[r.outcome], body: r };
    }
  }
  if (collection === 'stats' && method === 'GET') return { status: 200, body: await service.stats(parse(RecordFilter, query)) };
  if (collection === 'audit' && method === 'GET') {
    const q = parse(z.object({ record_id: z.string().regex(DOCUMENT_ID, { message: 'not a record id' }).optional(), page_token: PageToken.optional(), page_size: z.coerce.number().int().min(1).max(500).default(100) }), query);
    const entries = await service.auditLog({ limit: q.page_size, ...(q.page_token ? { after: q.page_token } : {}), ...(q.record_id ? { recordId: q.record_id } : {}) });
    return { status: 200, body: { entries, ...(entries.length === q.page_size ? { next_page_token: entries[entries.length - 1]!.id } : {}) } };
  }
  if (collection === 'bulk-replays') {
    if (method === 'POST' && id === undefined) {
      const r = await service.startBulk(parse(BulkReplayBody, body), actor);
      return { status: 'dry_run' in r ? 200 : 201, body: r };
    }
    if (id !== undefined) {
      let job;
      if (method === 'GET' && verb === undefined) job = await service.getJob(id);
      else if (method === 'POST' && verb === 'run') {
        const limits = parse(RunBody, body);
        job = await service.runJob(id, { maxRecords: limits.max_records, maxMs: limits.max_seconds * 1000 });
      } else if (method === 'POST' && verb === 'stop') job = await service.stopJob(id, actor);
      else throw new HttpError(404, `no route ${method} ${path}`);
      if (!job) throw new HttpError(404, `no bulk replay ${id}`);
      return { status: 200, body: job };
    }
  }
  throw new HttpError(404, `no route ${method} ${path}`);
}
