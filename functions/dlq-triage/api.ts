import { timingSafeEqual } from 'node:crypto';
import type { CloudEvent, Request, Response } from '@google-cloud/functions-framework';
import { z } from 'zod';
import type { Logger } from '../../shared/log';
import type { MessagePublishedData } from '../../shared/pubsub/push';
import { BulkReplayBody, DiscardBody, FixBody, ListQuery, RecordFilter, RunBody } from './records';
import type { TriageService } from './service';

/**
 * How operators are authenticated. `iam`: in GCP, Cloud Run lets only IAM-authorised callers
 * (the operators group, and the push identity) reach the function at all and has verified the
 * bearer ID token; the caller is read from it for the audit. `token`: locally, a bearer token
 * from configuration; a request without it is answered 401 and nothing is done.
 */
export type ApiAuth = { readonly mode: 'iam' } | { readonly mode: 'token'; readonly token: string };

export interface ApiDeps {
  readonly service: TriageService;
  readonly auth: ApiAuth;
  readonly logger: Logger;
  /** The push path: a push body handed to the shared error boundary (the same CloudEvent handler other functions register). */
  readonly push: (ce: CloudEvent<MessagePublishedData>) => Promise<void>;
}

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

function bearer(req: Request): string | undefined {
  const h = req.header('authorization');
  const m = h ? /^Bearer\s+(\S+)$/i.exec(h) : null;
  return m ? m[1] : undefined;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Who is calling, or undefined when the call is not authenticated. */
export function actorOf(req: Request, auth: ApiAuth): string | undefined {
  const token = bearer(req);
  const operator = (req.header('x-operator') ?? '').replace(/[^\w.@+-]/g, '').slice(0, 64);
  if (auth.mode === 'token') {
    if (!token || !auth.token || !sameSecret(token, auth.token)) return undefined;
    return operator ? `token:${operator}` : 'token';
  }
  // Cloud Run verified the ID token before the request got here; read who it names.
  if (!token) return undefined;
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { email?: unknown; sub?: unknown };
    const who = typeof payload.email === 'string' ? payload.email : typeof payload.sub === 'string' ? payload.sub : undefined;
    return who ? `iam:${who}` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * dlq-triage's one HTTP entry point (registered as `dlq-triage`): the push subscriptions of the
 * manifest POST to `/projects/P/topics/T`, operators call `/v1/...`. One function, so the
 * manifest, Terraform and the local stack see the six functions they know; IAM guards both paths
 * in GCP.
 */
export function triageHttp(deps: ApiDeps) {
  const { service } = deps;
  return async (req: Request, res: Response): Promise<void> => {
    try {
      const path = req.path.replace(/\/+$/, '') || '/';
      const push = PUSH_PATH.exec(path);
      if (push && req.method === 'POST') {
        const body = PushBody.safeParse(req.body);
        if (!body.success) throw new HttpError(400, 'not a Pub/Sub push body');
        const ce = {
          specversion: '1.0',
          id: body.data.message.messageId ?? body.data.message.message_id ?? '',
          source: `//pubsub.googleapis.com/projects/${push[1]}/topics/${push[2]}`,
          type: 'google.cloud.pubsub.topic.v1.messagePublished',
          data: body.data as MessagePublishedData,
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
      if (!path.startsWith('/v1/')) throw new HttpError(404, `no route ${req.method} ${path}`);
      const actor = actorOf(req, deps.auth);
      if (!actor) {
        deps.logger.log('WARNING', 'triage API: unauthenticated request refused', { method: req.method, path });
        res.status(401).set('www-authenticate', 'Bearer').json({ error: 'unauthenticated: send Authorization: Bearer <token>' });
        return;
      }
      const result = await route(service, req.method, path, req.query, req.body, actor);
      res.status(result.status).json(result.body);
    } catch (err) {
      if (err instanceof HttpError) {
        res.status(err.status).json(err.body ?? { error: err.message });
        return;
      }
      deps.logger.log('ERROR', `triage API: ${(err as Error).message}`, { path: req.path });
      res.status(500).json({ error: (err as Error).message });
    }
  };
}

const STATUS_OF = { published: 200, skipped: 409, refused: 422, failed: 502, rejected: 422, valid: 200, ok: 200 } as const;

async function route(service: TriageService, method: string, path: string, query: unknown, body: unknown, actor: string): Promise<{ status: number; body: unknown }> {
  const parts = path.split('/').slice(2).map(decodeURIComponent);
  const [collection, id, verb] = parts;
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
    const q = parse(z.object({ record_id: z.string().optional(), page_token: z.string().optional(), page_size: z.coerce.number().int().min(1).max(500).default(100) }), query);
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
