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

/**
 * Bigtable calls of known rows, through the client as the functions build it
 * (shared/adapters/bigtable.ts), on the Bigtable emulator of the integration setup.
 */
const BIGTABLE_SCRIPT = (table: string) => `
const { bigtableInstance, ensureTables } = require('./dist/shared/adapters/bigtable');
(async () => {
  const instance = bigtableInstance('event-recovery-test');
  await ensureTables(instance, [{ table: '${table}', families: ['k'] }]); // admin: no rows
  const t = instance.table('${table}');
  await t.insert([{ key: 'a', data: { k: { v: 'x' } } }, { key: 'b', data: { k: { v: 'y' } } }]); // 2 rows written, 4 + 4 bytes
  const claim = [{ method: 'insert', data: { k: { v: 'first' } } }];
  await t.row('c').filter([{ family: 'k' }], { onNoMatch: claim });   // 1 read; no match: 1 row written (8 bytes)
  await t.row('c').filter([{ family: 'k' }], { onNoMatch: claim });   // 1 read; matched, nothing to apply
  await t.insert([{ key: 'a', data: { k: { v: 'xyz' } } }]);           // 1 row written, 6 bytes, replacing a's cell (4 bytes kept -> 6)
  await t.row('a').get();                                             // 1 row read
  await t.row('missing').get().catch(() => undefined);                // an empty read (the client rejects: not found)
  await t.row('b').delete();                                          // 1 row deleted
  const [rows] = await t.getRows();                                   // 2 rows read (a, c)
  if (rows.length !== 2) throw new Error('expected 2 rows, got ' + rows.length);
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

  it('counts the Bigtable rows a process had the emulator read, write and delete, per table', async () => {
    if (!existsSync(METER)) throw new Error(`${METER} is missing: run npm run build`);
    if (!process.env.BIGTABLE_EMULATOR_HOST) throw new Error('BIGTABLE_EMULATOR_HOST is not set: the integration setup starts the Bigtable emulator');
    const dir = mkdtempSync(join(tmpdir(), 'cost-meter-'));
    const table = `${runPrefix('cost')}rows`.replace(/[^a-z0-9-]/g, '-');
    await promisify(execFile)(process.execPath, ['--require', METER, '-e', BIGTABLE_SCRIPT(table)], {
      cwd: ROOT,
      env: { ...process.env, EVENT_RECOVERY_METER_DIR: dir, FUNCTION_TARGET: 'meter-test' },
    });
    const files = readdirSync(dir);
    expect(files).toEqual([expect.stringMatching(/^meter-test-\d+\.json$/)]);
    const counted = JSON.parse(readFileSync(join(dir, files[0]!), 'utf8')) as MeterFile;
    // Kept at the end: a (1 + 1 + 1 + 3 bytes: its latest cell) and c (1 + 1 + 1 + 5); b deleted again.
    const rows = { rowsRead: 5, emptyReads: 1, rowsWritten: 4, rowsDeleted: 1, bytesWritten: 22, storedBytes: 14 };
    expect(counted.bigtable).toEqual({ ...rows, tables: { [table]: rows } });
    expect(counted.firestore).toEqual({ reads: 0, missingReads: 0, emptyQueries: 0, writes: 0, deletes: 0, commits: 0 });
  });

  it('is inert without EVENT_RECOVERY_METER_DIR', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--require', METER, '-e', "console.log(require('@google-cloud/firestore').Firestore.name)"], { cwd: ROOT });
    expect(stdout.trim()).toBe('Firestore');
  });
});
