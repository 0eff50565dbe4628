/**
 * `event-recovery publish` (the built command, as a user runs it) into the real Pub/Sub emulator:
 * every non-blank line arrives as one message with the producer's attributes, --from-line resumes,
 * and a missing topic fails with the line to resume from.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { PubSub } from '@google-cloud/pubsub';
import { emulatorClients, Observer, runPrefix } from '../support/harness';

const CLI = resolve(__dirname, '../../dist/cli/event-recovery.js');

function publish(args: string[], input?: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [CLI, 'publish', ...args], { env: process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (status) => done({ status, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

const event = (i: number) => JSON.stringify({ specversion: '1.0', id: `pub-${i}`, source: '//test/publish', type: 'discount.issued', time: '2026-03-01T10:00:00Z', data: { user_id: `u-${i}`, program: 'p', code: 'C' } });

describe('event-recovery publish into the Pub/Sub emulator', () => {
  const prefix = runPrefix('pub');
  const topic = `${prefix}events-raw`;
  let pubsub: PubSub;
  let observer: Observer;

  beforeAll(async () => {
    ({ pubsub } = emulatorClients());
    await pubsub.createTopic(topic);
    observer = await Observer.on(pubsub, topic, `${prefix}observer`);
  });
  afterAll(async () => {
    await observer.close();
    await pubsub.topic(topic).delete().catch(() => undefined);
    await pubsub.close();
  });

  it('publishes every line of a file, then resumes from a line, from standard input', async () => {
    const lines = [...Array.from({ length: 300 }, (_, i) => event(i + 1)), '', 'not json at all'];
    const file = join(tmpdir(), `${prefix}events.ndjson`);
    writeFileSync(file, `${lines.join('\r\n')}\r\n`);
    const first = await publish([file, '--topic', topic, '--rate', '2000', '--max-in-flight', '50']);
    expect(first.stderr).not.toMatch(/failed/);
    expect(first.status).toBe(0);
    expect(first.stdout).toBe(`published 301 messages (lines 1-302, 1 blank skipped) to ${topic} (project ${process.env.GOOGLE_CLOUD_PROJECT}, emulator ${process.env.PUBSUB_EMULATOR_HOST})\n`);

    const got = await observer.waitFor(301);
    expect(got.map((m) => m.data).sort()).toEqual(lines.filter((l) => l !== '').sort());
    const one = got.find((m) => m.data === event(42))!;
    expect(one.attributes).toEqual({ type: 'discount.issued', source: '//test/publish', id: 'pub-42' });
    expect(got.find((m) => m.data === 'not json at all')!.attributes).toEqual({});

    const resumed = await publish(['-', '--topic', topic, '--from-line', '299', '--quiet'], `${lines.join('\n')}\n`);
    expect(resumed.status).toBe(0);
    expect(resumed.stdout).toMatch(/^published 3 messages \(lines 299-302, 1 blank skipped\)/);
    expect(resumed.stderr).toBe('');
    const all = await observer.waitFor(304);
    expect(all.slice(301).map((m) => m.data).sort()).toEqual([event(299), event(300), 'not json at all'].sort());
  });

  it('names the missing topic and the line to resume from', async () => {
    const r = await publish(['-', '--topic', `${prefix}no-such-topic`], `${event(1)}\n${event(2)}\n`);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`publish: failed at line 1: topic ${prefix}no-such-topic does not exist in project ${process.env.GOOGLE_CLOUD_PROJECT}\n`);
    expect(r.stderr).toMatch(/resume with --from-line 1\n$/);
    expect(r.stdout).toBe('');
  });
});
