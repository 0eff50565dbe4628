import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { MeterFile } from '../../tools/cost/counts';
import { runPrefix } from '../support/harness';

const METER = resolve(__dirname, '../../dist/tools/cost/meter.js');
const ROOT = resolve(__dirname, '../..');

/** Firestore and Pub/Sub calls of known cost, made by a process that loads the meter first, as `npm run cost` runs each function. */
const SCRIPT = (prefix: string) => `
const { Firestore } = require('@google-cloud/firestore');
const { PubSub } = require('@google-cloud/pubsub');
(async () => {
  const db = new Firestore();
  const c = db.collection('${prefix}meter');
  await c.doc('a').set({ x: 1 });                      // 1 write
  await c.doc('b').create({ x: 2 });                   // 1 write
  await c.doc('a').get();                              // 1 read
  await c.doc('missing').get();                        // 1 read of a missing document
  await db.runTransaction(async (t) => {               // 1 read, 1 write
    const s = await t.get(c.doc('b'));
    t.update(s.ref, { x: 3 });
  });
  await c.where('x', '>', 0).get();                    // 2 reads
  await c.where('x', '>', 100).get();                  // an empty query
  await c.doc('a').delete();                           // 1 delete
  const [topic] = await new PubSub().createTopic('${prefix}meter');
  // The meter counts a call before its callback runs, and writes its file on exit: once the
  // publish resolved, it is counted.
  await topic.publishMessage({ data: Buffer.from('hello'), attributes: { k: 'v' } }); // 5 + 1 + 1 bytes
  process.exit(0);
})().catch((err) => { console.error(err); process.exit(1); });
`;

describe('npm run cost: the meter counts Firestore and Pub/Sub operations at the client, on the wire', () => {
  it('counts what a process did against the emulators', async () => {
    if (!existsSync(METER)) throw new Error(`${METER} is missing: run npm run build`);
    const dir = mkdtempSync(join(tmpdir(), 'cost-meter-'));
    const prefix = runPrefix('cost');
    await promisify(execFile)(process.execPath, ['--require', METER, '-e', SCRIPT(prefix)], {
      cwd: ROOT,
      env: { ...process.env, EVENT_RECOVERY_METER_DIR: dir, FUNCTION_TARGET: 'meter-test' },
    });
    const files = readdirSync(dir);
    expect(files).toEqual([expect.stringMatching(/^meter-test-\d+\.json$/)]);
    const counted = JSON.parse(readFileSync(join(dir, files[0]!), 'utf8')) as MeterFile;
    expect(counted.firestore).toEqual({ reads: 4, missingReads: 1, emptyQueries: 1, writes: 3, deletes: 1, commits: 4 });
    expect(counted.publish).toEqual({ [`${prefix}meter`]: { requests: [[7]] } });
    // Per document: a set then a delete; a create then an update inside the transaction.
    const docs = counted.documents;
    expect(Object.keys(docs).sort()).toEqual([`${prefix}meter/a`, `${prefix}meter/b`]);
    expect(docs[`${prefix}meter/a`]).toMatchObject({ writes: 1, deletes: 1, peak: 1 });
    expect(docs[`${prefix}meter/b`]).toMatchObject({ writes: 2, deletes: 0 });
    expect([1, 2]).toContain(docs[`${prefix}meter/b`]!.peak); // 2 unless the two writes straddle a second
    expect(counted.cpuUs).toBeGreaterThan(0);
  });

  it('is inert without EVENT_RECOVERY_METER_DIR', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--require', METER, '-e', "console.log(require('@google-cloud/firestore').Firestore.name)"], { cwd: ROOT });
    expect(stdout.trim()).toBe('Firestore');
  });
});
