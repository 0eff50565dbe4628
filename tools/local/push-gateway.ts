import { Agent, createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a function did with the pushes of one subscription. */
export interface DeliveryStats {
  /** Message ids the function acknowledged (answered 2xx). */
  readonly acked: Set<string>;
  requests: number;
  /** Non-2xx answers and failed connections: Pub/Sub redelivers those after the retry backoff. */
  failed: number;
  lastAt: number;
  /** How long each acknowledged push took the function, in ms. */
  readonly handlerMs: number[];
}

/**
 * Stands between the Pub/Sub emulator's push and one served function: forwards every request
 * unchanged (same path, so the Functions Framework still names the topic) and records, per
 * subscription, which messages the function acknowledged. That is how the stack knows a
 * function is done with what reached its topics, which no topic shows for a function that
 * publishes nothing for most messages.
 */
export class PushGateway {
  private readonly bySubscription = new Map<string, DeliveryStats>();
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });

  private readonly server: Server;
  private address = '';

  private constructor(private readonly target: URL) {
    this.server = createServer((req, res) => this.forward(req, res));
  }

  /** Starts a gateway on a free loopback port in front of the function at `target`. */
  static async start(target: string): Promise<PushGateway> {
    const gateway = new PushGateway(new URL(target));
    await new Promise<void>((resolve, reject) => {
      gateway.server.once('error', reject);
      gateway.server.listen(0, '127.0.0.1', resolve);
    });
    gateway.address = `http://127.0.0.1:${(gateway.server.address() as AddressInfo).port}`;
    return gateway;
  }

  /** Where the push subscriptions of the function should deliver. */
  get url(): string {
    return this.address;
  }

  /** Delivery stats of a subscription by its short name (what the manifest calls it). */
  stats(subscription: string): DeliveryStats {
    let stats = this.bySubscription.get(subscription);
    if (!stats) {
      stats = { acked: new Set(), requests: 0, failed: 0, lastAt: 0, handlerMs: [] };
      this.bySubscription.set(subscription, stats);
    }
    return stats;
  }

  private forward(req: IncomingMessage, res: ServerResponse): void {
    const target = this.target;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const { subscription, messageId } = pushIdentity(body);
      const stats = this.stats(subscription);
      stats.requests++;
      const started = Date.now();
      stats.lastAt = started;
      const upstream = request(
        { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers, agent: this.agent },
        (answer) => {
          const status = answer.statusCode ?? 502;
          if (status >= 200 && status < 300 && messageId) {
            stats.acked.add(messageId);
            stats.handlerMs.push(Date.now() - started);
          } else stats.failed++;
          stats.lastAt = Date.now();
          res.writeHead(status, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => {
        stats.failed++;
        stats.lastAt = Date.now();
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      upstream.end(body);
    });
  }

  close(): Promise<void> {
    this.agent.destroy();
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }
}

/** The subscription (short name) and message id of a push body; empty when it is not one. */
export function pushIdentity(body: Buffer): { subscription: string; messageId: string | undefined } {
  try {
    const value = JSON.parse(body.toString('utf8')) as { subscription?: unknown; message?: { messageId?: unknown; message_id?: unknown } };
    const full = typeof value.subscription === 'string' ? value.subscription : '';
    const id = value.message?.messageId ?? value.message?.message_id;
    return { subscription: full.slice(full.lastIndexOf('/') + 1), messageId: typeof id === 'string' ? id : undefined };
  } catch {
    return { subscription: '', messageId: undefined };
  }
}
