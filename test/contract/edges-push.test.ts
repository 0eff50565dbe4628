import { MemoryPublisher } from '../../shared/adapters/memory-publisher';
import { silentLogger } from '../../shared/log';
import { pushBody } from '../../shared/pubsub/push';
import { TOPICS } from '../../shared/topology';
import { validatorHandler } from '../../functions/validator/handler';
import { serveFunction } from '../support/harness';
import { saleRecorded } from '../support/events';

/** Issue 20's edges through the validator as GCP serves it: a Pub/Sub push body into the Functions Framework. */
const NOW = Date.parse('2026-03-01T12:00:00Z');
const TOPIC_PATH = '/projects/demo/topics/events-raw';

describe('validator: what a push can make ambiguous', () => {
  const publisher = new MemoryPublisher();
  let server: { url: string; close: () => Promise<void> };
  const push = async (bytes: string | Buffer, id = 'raw-1') => {
    const body = pushBody(bytes, {}, id);
    const res = await fetch(`${server.url}${TOPIC_PATH}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return res.status;
  };
  const findings = () => publisher.json(TOPICS.findings) as Array<Record<string, unknown>>;

  beforeAll(async () => {
    server = await serveFunction('validator', validatorHandler({ publisher, clock: { now: () => NOW }, config: { maxFutureMs: 300_000 }, logger: silentLogger }) as never);
  });
  afterAll(() => server.close());
  beforeEach(() => publisher.messages.splice(0));

  it.each([
    ['type', (s: string) => `{"type":"lead.deleted",${s.slice(1)}`],
    ['id', (s: string) => s.replace('"id":"s-1"', '"id":"s-1","id":"s-2"')],
    ['time', (s: string) => s.replace('"time":', '"time":"2099-01-01T00:00:00Z","time":')],
  ])('routes an event with a repeated %s to events-invalid, naming the key, and forwards nothing', async (key, edit) => {
    const bytes = edit(JSON.stringify(saleRecorded({ id: 's-1' })));
    expect(await push(bytes)).toBe(204);
    expect(publisher.messages.filter((m) => m.topic === TOPICS.valid)).toEqual([]);
    expect(findings()).toEqual([expect.objectContaining({ kind: 'invalid', action: 'dropped', reason: expect.stringMatching(new RegExp(`^${key}: appears more than once in one object`)) })]);
  });
});
