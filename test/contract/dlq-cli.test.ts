import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ff from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { MemoryFailureStore } from '../../shared/adapters/memory-failures';
import { MemoryPublisher } from '../../shared/adapters/memory-publisher';
import { withBoundary } from '../../shared/boundary';
import { DEAD_LETTER_ATTRIBUTES } from '../../shared/dead-letters';
import { silentLogger } from '../../shared/log';
import { topology, TOPICS } from '../../shared/topology';
import { dlqCommand, type DlqIo } from '../../cli/commands/dlq';
import { UsageError } from '../../cli/usage';
import { triageHttp } from '../../functions/dlq-triage/api';
import { triageHandler } from '../../functions/dlq-triage/handler';
import { TriageService } from '../../functions/dlq-triage/service';
import { MemoryTriageStore } from '../../functions/dlq-triage/store';
import { cardScanned } from '../support/events';

const TOKEN = 'cli-test-token-0123456789';

describe('event-recovery dlq against the triage API', () => {
  const store = new MemoryTriageStore();
  const publisher = new MemoryPublisher();
  let service: TriageService;
  let server: Server;
  let url = '';
  beforeAll(async () => {
    const failures = new MemoryFailureStore();
    const clock = { now: () => Date.now() };
    service = new TriageService({ store, failures, publisher, clock, logger: silentLogger, topology, config: { prefix: '', retentionMs: 86_400_000, claimMs: 60_000, maxFutureMs: 300_000 } });
    const push = withBoundary('dlq-triage', triageHandler(service, ''), { failures, logger: silentLogger, clock });
    ff.http('dlq-triage-cli', triageHttp({ service, auth: { mode: 'token', token: TOKEN }, logger: silentLogger, push }));
    server = getTestServer('dlq-triage-cli') as Server;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    for (let i = 0; i < 4; i++) {
      const ev = cardScanned({ id: `cli-${i}`, data: { contact: { email: 'ada@example.com' } } });
      await service.receive(TOPICS.deadLetters, {
        messageId: `m-${i}`,
        publishTime: new Date(Date.parse('2026-03-01T12:00:00Z') + i).toISOString(),
        data: Buffer.from(JSON.stringify(ev)).toString('base64'),
        attributes: { id: ev.id, type: ev.type, [DEAD_LETTER_ATTRIBUTES.subscription]: 'projects/p/subscriptions/gap-detector-chains', [DEAD_LETTER_ATTRIBUTES.deliveryCount]: '5' },
      });
    }
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  async function run(args: string[], env: Record<string, string> = { DLQ_API_URL: url, DLQ_API_TOKEN: TOKEN, USER: 'ann' }) {
    const out: string[] = [];
    const err: string[] = [];
    const io: DlqIo = { out: (t) => out.push(t), err: (t) => err.push(t), env, isTty: false };
    const code = await dlqCommand(args, io);
    return { code, out: out.join(''), err: err.join('') };
  }

  it('lists, shows and replays a record once; the second replay exits 1', async () => {
    const listed = await run(['list', '--class', 'transient', '--json']);
    expect(listed.code).toBe(0);
    const ids = (JSON.parse(listed.out) as { records: Array<{ id: string }> }).records.map((r) => r.id);
    expect(ids).toHaveLength(4);
    const text = await run(['list']);
    expect(text.out).toContain('gap-detector-chains');
    expect(text.out).toContain('4 records');
    const shown = await run(['show', ids[0]!]);
    expect(shown.code).toBe(0);
    expect(shown.out).toContain('a***@example.com');
    expect(shown.out).not.toContain('ada@example.com');
    expect((await run(['replay', ids[0]!])).code).toBe(0);
    const again = await run(['replay', ids[0]!]);
    expect(again).toMatchObject({ code: 1, err: expect.stringContaining('already replayed') });
    const audit = await run(['audit', '--record', ids[0]!]);
    expect(audit.out).toMatch(/token:ann {2}replay ok/);
  });

  it('fixes with --patch: an invalid fix exits 1 with the reasons and publishes nothing', async () => {
    const { records } = await service.list({ page_size: 10, state: ['open'] });
    const id = records[0]!.id;
    const before = publisher.messages.length;
    const patch = join(mkdtempSync(join(tmpdir(), 'dlq-cli-')), 'patch.json');
    writeFileSync(patch, JSON.stringify({ data: { card_id: 7 } }));
    const bad = await run(['fix', id, '--patch', patch]);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('card_id');
    expect(publisher.messages.length).toBe(before);
    writeFileSync(patch, JSON.stringify({ data: { card_id: 'card-77' } }));
    expect((await run(['fix', id, '--patch', patch, '--dry-run'])).code).toBe(0);
    expect(publisher.messages.length).toBe(before);
    expect((await run(['fix', id, '--patch', patch])).code).toBe(0);
    expect(publisher.messages.length).toBe(before + 1);
  });

  it('bulk replays with a dry run first, then publishes the rest and reports the job', async () => {
    const dry = await run(['replay', '--all', '--subscription', 'gap-detector-chains', '--dry-run']);
    expect(dry).toMatchObject({ code: 0, out: expect.stringContaining('would replay 2 open records') });
    const bulk = await run(['replay', '--all', '--rate', '100']);
    expect(bulk.code).toBe(0);
    expect(bulk.out).toMatch(/done: 2 replayed/);
    expect(bulk.err).toMatch(/\[#+\] 2\/2 {2}published 2/);
    const stats = await run(['stats', '--json']);
    expect(JSON.parse(stats.out)).toMatchObject({ total: 4, by_state: { replayed: 3, fixed: 1 } });
  });

  it('exits 3 without credentials, 4 for an unknown record, 5 when the API is unreachable, and throws a usage error for bad usage', async () => {
    expect((await run(['list'], { DLQ_API_URL: url })).code).toBe(3);
    expect((await run(['show', 'nope'])).code).toBe(4);
    expect((await run(['list'], { DLQ_API_URL: 'http://127.0.0.1:1', DLQ_API_TOKEN: TOKEN })).code).toBe(5);
    await expect(run(['discard', 'x'])).rejects.toThrow(UsageError);
    await expect(run(['frobnicate'])).rejects.toThrow(UsageError);
    await expect(run(['list'], {})).rejects.toThrow(UsageError);
  });
});
