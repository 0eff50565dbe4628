import type { CloudEvent } from '@google-cloud/functions-framework';
import type { MessagePublishedData } from '../../shared/pubsub/push';
import { emulatorClients, runPrefix, serveFunction } from '../support/harness';

/**
 * The push gate (shared/pubsub/push-http.ts) lets through what a real push sends: here the
 * Pub/Sub emulator's own push (its method, content type and wrapped body, not a body a test
 * wrote) reaches a function registered as the project registers them, as the CloudEvent the
 * framework makes of it.
 */
describe("the Pub/Sub emulator's own push, through the push gate", () => {
  it('is handed to the handler as the messagePublished CloudEvent and acked', async () => {
    const { pubsub } = emulatorClients();
    const prefix = runPrefix('gate');
    const project = process.env.GOOGLE_CLOUD_PROJECT ?? 'event-recovery-test';
    const seen: Array<CloudEvent<MessagePublishedData>> = [];
    const served = await serveFunction(`${prefix}fn`, async (ce) => void seen.push(ce as CloudEvent<MessagePublishedData>));
    const [topic] = await pubsub.createTopic(`${prefix}events`);
    const [subscription] = await topic.createSubscription(`${prefix}push`, {
      pushConfig: { pushEndpoint: `${served.url}/projects/${project}/topics/${prefix}events` },
      ackDeadlineSeconds: 10,
    });
    try {
      await topic.publishMessage({ data: Buffer.from('{"id":"e-1"}'), attributes: { origin: 'emulator' } });
      const deadline = Date.now() + 60_000;
      while (seen.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(seen).toHaveLength(1);
      const [ce] = seen;
      expect(ce).toMatchObject({ type: 'google.cloud.pubsub.topic.v1.messagePublished', source: `//pubsub.googleapis.com/projects/${project}/topics/${prefix}events` });
      expect(Buffer.from(ce!.data!.message!.data!, 'base64').toString()).toBe('{"id":"e-1"}');
      expect(ce!.data!.message!.attributes).toEqual({ origin: 'emulator' });
    } finally {
      await subscription.delete().catch(() => undefined);
      await topic.delete().catch(() => undefined);
      await served.close();
    }
  });
});
