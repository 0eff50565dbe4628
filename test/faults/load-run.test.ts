import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoadResult } from '../../tools/load/run';
import { ensureBuilt } from '../support/build';

/**
 * Issue 19's short load run, through `npm run load` as a person runs it: 2,000 generated events
 * published at 50/s into the whole local stack (real emulators, every function in its own
 * process, the push gateway), the deduplicator killed with SIGKILL 15 s in. Then nothing lost
 * (every event replay accepts is on events-unique), nothing its function had processed
 * dead-lettered, the findings those of replay of the same log (by kind and event), and no
 * finding id published more than twice. About 2-4 minutes, most of it the 40 s of publishing
 * and the drain on a busy machine; `npm test` runs it with the fault suite, alone.
 */
const ROOT = join(__dirname, '..', '..');
const EVENTS = 2000;

describe('load run: 2,000 events at 50/s, the deduplicator killed midway', () => {
  let dir: string;
  beforeAll(() => {
    ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), 'er-load-test-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loses nothing, dead-letters nothing processed, finds what replay finds, publishes each finding id at most twice', async () => {
    const json = join(dir, 'load.json');
    let stderr = '';
    const code = await new Promise<number>((resolve, reject) => {
      const child = spawn(process.execPath, [join(ROOT, 'dist', 'tools', 'load', 'run.js'), '--events', String(EVENTS), '--rate', '50', '--kill', 'deduplicator@15', '--json', json], {
        cwd: ROOT,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('error', reject);
      child.on('exit', (c) => resolve(c ?? 1));
    });
    let result: LoadResult;
    try {
      result = JSON.parse(readFileSync(json, 'utf8')) as LoadResult;
    } catch {
      throw new Error(`the load run wrote no result (exit ${code}):\n${stderr.slice(-4000)}`);
    }
    // The kill happened, and the stack started a new instance.
    expect(result.deaths.deduplicator).toBeGreaterThanOrEqual(1);
    expect(result.published).toBe(EVENTS);
    expect(result.expected_unique).toBeGreaterThan(EVENTS * 0.9);
    expect({ lost: result.lost, doubled: result.doubled, false_dead_letters: result.false_dead_letters, replay_differences: result.replay_differences }).toEqual({
      lost: 0,
      doubled: 0,
      false_dead_letters: 0,
      replay_differences: [],
    });
    expect(result.equal_to_replay).toBe(true);
    expect(result.findings_distinct).toBeGreaterThan(0);
    expect(result.max_finding_repeats).toBeLessThanOrEqual(2);
    expect(code).toBe(0);
  }, 900_000);
});
