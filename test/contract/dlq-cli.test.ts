import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MemoryPublisher } from '../../shared/adapters/memory-publisher';
import { TOPICS } from '../../shared/topology';
import { dlqCommand, type DlqIo } from '../../cli/commands/dlq';
import { UsageError } from '../../cli/usage';
import { cardScanned } from '../support/events';
import { deadLetter, invalidMessage, serveTriage, triageService } from '../support/triage';

const TOKEN = 'cli-test-token-0123456789';

describe('event-recovery dlq against the triage API', () => {
  const { service, failures, publisher: memory } = triageService({ config: { retentionMs: 86_400_000 } });
  const publisher = memory as MemoryPublisher;
  let url = '';
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ url, close } = await serveTriage('dlq-triage-cli', service, { token: TOKEN, failures }));
    for (let i = 0; i < 4; i++) {
      const ev = cardScanned({ id: `cli-${i}`, data: { contact: { email: 'ada@example.com' } } });
      await service.receive(TOPICS.deadLetters, deadLetter('gap-detector-chains', ev, { id: ev.id, type: ev.type }));
    }
  });
  afterAll(() => close());

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

  it('stops a bulk replay on Ctrl-C while a slice runs: the job is stopped, the rest stay open, exit 1', async () => {
    for (let i = 0; i < 6; i++) {
      const ev = cardScanned({ id: `stop-${i}` });
      await service.receive(TOPICS.deadLetters, deadLetter('gap-detector-sequences', ev, { id: ev.id, type: ev.type }));
    }
    const replayed = () => publisher.messages.filter((m) => m.attributes?.id?.startsWith('stop-')).length;
    let interrupt: () => void = () => undefined;
    const out: string[] = [];
    const err: string[] = [];
    const io: DlqIo = { out: (t) => out.push(t), err: (t) => err.push(t), env: { DLQ_API_URL: url, DLQ_API_TOKEN: TOKEN, USER: 'ann' }, isTty: false, onInterrupt: (stop) => ((interrupt = stop), () => undefined) };
    // 2/s: six records take 2.5 s; Ctrl-C once the first two have gone (a condition, not a timer).
    const running = dlqCommand(['replay', '--all', '--subscription', 'gap-detector-sequences', '--rate', '2'], io);
    const deadline = Date.now() + 30_000;
    while (replayed() < 2) {
      if (Date.now() > deadline) throw new Error(`the bulk replay published ${replayed()} of 6 in 30 s`);
      await new Promise((r) => setTimeout(r, 10));
    }
    interrupt();
    expect(await running).toBe(1);
    const stoppedLine = /^stopped job (job-\S+): (\d) replayed; the rest stay open/.exec(out.join(''));
    expect(stoppedLine).not.toBeNull();
    const after = replayed();
    expect(after).toBeGreaterThanOrEqual(2);
    expect(after).toBeLessThan(6);
    expect((await service.list({ page_size: 10, state: ['open'], subscription: 'gap-detector-sequences' })).records).toHaveLength(6 - after);
    // Nothing more is published: the command returned after its slice did (a slice ends by
    // waiting for its replays in flight), and the job is stopped with every publish counted.
    expect(await service.getJob(stoppedLine![1]!)).toMatchObject({ state: 'stopped', published: after });
    expect(Number(stoppedLine![2])).toBe(after);
  });

  it('exits 3 without credentials, 4 for an unknown record, 5 when the API is unreachable, and throws a usage error for bad usage', async () => {
    expect((await run(['list'], { DLQ_API_URL: url })).code).toBe(3);
    expect((await run(['show', 'nope'])).code).toBe(4);
    expect((await run(['list'], { DLQ_API_URL: 'http://127.0.0.1:1', DLQ_API_TOKEN: TOKEN })).code).toBe(5);
    await expect(run(['discard', 'x'])).rejects.toThrow(UsageError);
    await expect(run(['frobnicate'])).rejects.toThrow(UsageError);
    await expect(run(['list'], {})).rejects.toThrow(UsageError);
  });

  it('shows an events-invalid record with the rejected event it holds decoded, not as base64 (emails masked)', async () => {
    const rejected = { ...cardScanned({ id: 'rejected-1', data: { contact: { email: 'bob@example.com' } } }), specversion: '0.3' };
    const record = (await service.receive(TOPICS.invalid, invalidMessage(rejected, 'raw-show')))!;
    const shown = await run(['show', record.id]);
    expect(shown.code).toBe(0);
    // The record as received: the deduplicator's events-invalid envelope, whose message holds the rejected bytes.
    const body = JSON.parse(shown.out) as { received: { data: { message: { data: unknown } } } };
    expect(body.received.data.message.data).toMatchObject({ id: 'rejected-1', specversion: '0.3', data: { contact: { email: 'b***@example.com' } } });
    expect(shown.out).not.toContain(Buffer.from(JSON.stringify(rejected)).toString('base64').slice(0, 40));
    expect(shown.out).not.toContain('bob@example.com');
  });
  it('names the operator in the audit without $USER: LOGNAME, the login name, never a bare "token" (issue 20.11)', async () => {
    const records = [];
    for (const n of [1, 2]) records.push((await service.receive(TOPICS.deadLetters, deadLetter('gap-detector-chains', cardScanned({ id: `who-${n}` }))))!);
    expect((await run(['discard', records[0]!.id, '--reason', 'test traffic'], { DLQ_API_URL: url, DLQ_API_TOKEN: TOKEN, LOGNAME: 'bo' })).code).toBe(0);
    expect((await run(['audit', '--record', records[0]!.id])).out).toMatch(/token:bo {2}discard ok/);
    const out: string[] = [];
    const io: DlqIo = { out: (t) => out.push(t), err: () => undefined, env: { DLQ_API_URL: url, DLQ_API_TOKEN: TOKEN }, isTty: false, loginName: () => 'cy' };
    expect(await dlqCommand(['discard', records[1]!.id, '--reason', 'test traffic'], io)).toBe(0);
    const audit = await run(['audit', '--record', records[1]!.id]);
    expect(audit.out).toMatch(/token:cy {2}discard ok/);
  });
});
