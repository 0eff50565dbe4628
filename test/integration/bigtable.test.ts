import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { bigtableInstance, ensureTables } from '../../shared/adapters/bigtable';
import { startEmulator } from '../../tools/local/emulators';
import { freePort } from '../../tools/local/ports';

/** The Bigtable emulator as the stack and the tests start it, and the client as the functions build it. */
describe('Bigtable', () => {
  it('ensureTables creates a table once, also when called concurrently, and the client reaches it', async () => {
    const instance = bigtableInstance('event-recovery-test');
    const table = `t-${randomBytes(4).toString('hex')}`;
    await Promise.all([ensureTables(instance, [{ table, families: ['k'] }]), ensureTables(instance, [{ table, families: ['k'] }])]);
    const [exists] = await instance.table(table).exists();
    expect(exists).toBe(true);
    const row = instance.table(table).row('key');
    const claim = [{ method: 'insert', data: { k: { v: 'first' } } }];
    // CheckAndMutateRow: the mutation applies only when no cell matches, and says which happened.
    const [matchedFirst] = await row.filter([{ family: 'k' }], { onNoMatch: claim });
    const [matchedSecond] = await row.filter([{ family: 'k' }], { onNoMatch: claim });
    expect([matchedFirst, matchedSecond]).toEqual([false, true]);
    const [got] = await row.get();
    expect(got.data.k.v[0].value).toBe('first');
  });

  it('the emulator starts again on a fresh port when its first one is taken', async () => {
    const taken = createServer((s) => s.destroy());
    const port = await new Promise<number>((resolve) => taken.listen(0, '127.0.0.1', () => resolve((taken.address() as { port: number }).port)));
    const retried: number[] = [];
    let picks = 0;
    try {
      const emulator = await startEmulator('bigtable', {
        pickPort: async () => (picks++ === 0 ? port : freePort()),
        onBindRetry: (p) => retried.push(p),
      });
      try {
        expect(retried).toEqual([port]);
        expect(emulator.host).not.toBe(`127.0.0.1:${port}`);
      } finally {
        await emulator.stop();
      }
    } finally {
      taken.close();
    }
  }, 120_000);
});
