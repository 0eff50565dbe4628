import * as ff from '@google-cloud/functions-framework';
import type { CloudEvent, HttpFunction, Request, Response } from '@google-cloud/functions-framework';
import { jsonLogger, type Logger } from '../log';
import type { MessagePublishedData, PushInput, RawPushBody } from './push';

/**
 * The one door of every Pub/Sub-push function (issue 20.8). A function registered with
 * `ff.cloudEvent` gets the Functions Framework's event middleware in front of it, and that
 * middleware answers 500 to requests no Pub/Sub push sends (a GET, a text/plain body, a body
 * without a content type, `{"context":null,"data":{}}`: `'context' in body` on a string or
 * undefined throws) before any project code runs. Pub/Sub treats every answer but 102, 200,
 * 201, 202 and 204 as a failed delivery and sends the message again
 * (https://cloud.google.com/pubsub/docs/push: "If your service returns any other code, Pub/Sub
 * retries delivery"), so a 4xx is a nack exactly like a 500: with a dead-letter policy the
 * message is forwarded to the dead-letter topic after max_delivery_attempts either way
 * (https://cloud.google.com/pubsub/docs/handling-failures; every nack counts an attempt:
 * https://cloud.google.com/python/docs/reference/pubsub/2.15.1/google.cloud.pubsub_v1.types.DeadLetterPolicy),
 * and triage finds no recorded reason for it. What changes is the caller's answer:
 * a request that is not a push gets a 4xx that names the problem, never a 500 that reads like a
 * fault of ours, and it never reaches the handler, so it records no failure and publishes
 * nothing. A real push (a POST with the wrapped message as an application/json body,
 * https://cloud.google.com/pubsub/docs/push) always passes the gate.
 *
 * So each function registers as an HTTP function (`ff.http`; the entry point is still its name,
 * https://cloud.google.com/run/docs/write-cloudevents-functions: "the function entry point is the name with
 * which the handler is registered with the Functions Framework"; Terraform deploys the
 * functions without an event trigger, which is an HTTP function already) and the gate hands a
 * push to the handler exactly as the framework's middleware does: a push with data, a message
 * id and a subscription becomes the `google.cloud.pubsub.topic.v1.messagePublished` CloudEvent
 * (pubsub_middleware.js and background_event_to_cloud_event.js of @google-cloud/functions-framework
 * 5.0.5), anything else with a message object is handed over as the raw body;
 * test/contract/push-requests.test.ts holds the two registrations to the same objects and answers.
 */
export type PushHandler = (input: CloudEvent<MessagePublishedData>) => Promise<void>;

/** Why a request is not a push, as the answer says it; `undefined` for a push. Pure. */
export function notAPush(method: string, isJson: boolean, body: unknown): { status: 400 | 405 | 415; reason: string } | undefined {
  if (method !== 'POST') return { status: 405, reason: `a Pub/Sub push is a POST, not a ${method}` };
  if (!isJson) return { status: 415, reason: 'a Pub/Sub push is a JSON body (content-type: application/json)' };
  if (!isObject(body)) return { status: 400, reason: 'not a Pub/Sub push body: the body is not a JSON object' };
  if (!isObject(body.message)) return { status: 400, reason: 'not a Pub/Sub push body: it has no message object' };
  return undefined;
}

const PUBSUB_MESSAGE_TYPE = 'type.googleapis.com/google.pubsub.v1.PubsubMessage';
const MESSAGE_PUBLISHED = 'google.cloud.pubsub.topic.v1.messagePublished';

/**
 * What the handler receives for a push body at `path`: the CloudEvent the framework makes of a
 * push that has data, a message id and a subscription (and no `context`), else the body itself.
 * `now` stands in for a missing publish time, as the framework's does.
 */
export function pushInput(body: RawPushBody & Record<string, unknown>, path: string, traceparent: string | undefined, now: () => Date): PushInput {
  const message = body.message as Record<string, unknown>;
  if (!body.context && body.subscription && message.data && message.messageId) {
    const time = (message.publishTime as string | undefined) || now().toISOString();
    const ce: CloudEvent<MessagePublishedData> & { traceparent?: string } = {
      id: message.messageId as string,
      time,
      specversion: '1.0',
      datacontenttype: 'application/json',
      type: MESSAGE_PUBLISHED,
      source: `//pubsub.googleapis.com/${topicPath(path) ?? ''}`,
      data: {
        message: {
          '@type': PUBSUB_MESSAGE_TYPE,
          data: message.data as string,
          attributes: (message.attributes as Record<string, string> | undefined) || {},
          publishTime: time,
          messageId: message.messageId as string,
        } as NonNullable<MessagePublishedData['message']>,
      },
    };
    if (traceparent) ce.traceparent = traceparent;
    return ce;
  }
  return traceparent ? Object.assign(body, { traceparent }) : body;
}

/** `projects/P/topics/T` of a push endpoint's path, where the project's endpoints name it. */
function topicPath(path: string): string | undefined {
  return /projects\/[^/?]+\/topics\/[^/?]+/.exec(path)?.[0];
}

/** The HTTP function in front of a push handler: the gate, then the handler, answered as the framework answers a CloudEvent function. */
export function pushHttp(name: string, handler: PushHandler, logger: Logger = jsonLogger(undefined, { function: name })): HttpFunction {
  return async (req: Request, res: Response): Promise<void> => {
    const refused = notAPush(req.method, req.is('application/json') === 'application/json', req.body);
    if (refused) {
      logger.log('WARNING', `${name}: refused a request that is not a Pub/Sub push (${refused.status}): ${refused.reason}`, {
        function: name,
        method: req.method,
        path: req.path,
        content_type: req.header('content-type') ?? '',
        status: refused.status,
      });
      if (refused.status === 405) res.set('allow', 'POST');
      res.status(refused.status).json({ error: refused.reason });
      return;
    }
    if (topicPath(req.path) === undefined) {
      logger.log('WARNING', `${name}: a push to ${req.path}, not to /projects/PROJECT/topics/TOPIC: the event names no topic`, { function: name, path: req.path });
    }
    const input = pushInput(req.body as RawPushBody & Record<string, unknown>, req.path, req.header('traceparent'), () => new Date());
    try {
      await handler(input as CloudEvent<MessagePublishedData>);
    } catch (err) {
      // As the framework answers a thrown CloudEvent function (sendCrashResponse, statusHeader
      // 'error'): its stack on stderr, X-Google-Status: error, 500 with the message outside
      // production. Pub/Sub redelivers it.
      const e = err as { stack?: unknown; message?: unknown };
      console.error(e?.stack || err);
      if (!res.headersSent) {
        res.set('X-Google-Status', 'error');
        if (process.env.NODE_ENV !== 'production') res.status(500).send(`${(e?.message as string | undefined) || err}`);
        else res.sendStatus(500);
      }
      return;
    }
    res.sendStatus(204);
  };
}

/** Registers a Pub/Sub-push function under its name, behind the gate. */
export function registerPush(name: string, handler: PushHandler): void {
  ff.http(name, pushHttp(name, handler));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
