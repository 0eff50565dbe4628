import type { Firestore } from '@google-cloud/firestore';
import { bigtableInstance, ensureTables } from '../../shared/adapters/bigtable';
import { BigtableChainLog, CHAIN_FAMILY } from '../../functions/gap-detector/bigtable-chains';
import { BigtableMarkerLog, MARKER_FAMILY } from '../../functions/gap-detector/bigtable-markers';
import type { ChainLog, MarkerLog } from '../../functions/gap-detector/store';
import { emulatorClients } from './harness';

/** Where gap-detector's sequence markers and chains are kept: the store tests run against both. */
export const MARKER_STORES = ['firestore', 'bigtable'] as const;
export type MarkerStore = (typeof MARKER_STORES)[number];

/** The Bigtable instance the integration tests use on the emulator (any id: the emulator has them all). */
const INSTANCE = 'event-recovery-test';

/**
 * The marker and chain logs a FirestoreGapStore is given: none for Firestore (its own
 * `<prefix>-markers` and `<prefix>-chains`), fresh tables on the Bigtable emulator (global setup
 * sets BIGTABLE_EMULATOR_HOST) for Bigtable, as the function builds them with STATE_STORE=bigtable.
 * `rows()` counts what the markers' table still holds; `close()` ends the client.
 */
export async function markerLog(
  store: MarkerStore,
  prefix: string,
): Promise<{ log: MarkerLog | undefined; chains: ChainLog | undefined; rows: () => Promise<number>; close: () => Promise<void> }> {
  if (store === 'firestore') return { log: undefined, chains: undefined, rows: async () => Number.NaN, close: async () => {} };
  if (!process.env.BIGTABLE_EMULATOR_HOST) throw new Error('BIGTABLE_EMULATOR_HOST missing: run through jest (test/support/global-setup.ts starts the emulator)');
  const instance = bigtableInstance(INSTANCE);
  const table = `${prefix}markers`;
  await ensureTables(instance, [
    { table, families: [MARKER_FAMILY] },
    { table: `${prefix}chains`, families: [CHAIN_FAMILY] },
  ]);
  return {
    log: new BigtableMarkerLog(instance.table(table)),
    chains: new BigtableChainLog(instance.table(`${prefix}chains`)),
    rows: async () => (await instance.table(table).getRows())[0].length,
    close: async () => {
      await instance.bigtable.close();
    },
  };
}

/** What `useMarkerLog` hands a describe block's tests once its `beforeAll` has run. */
export interface MarkerLogFixture {
  firestore: Firestore;
  marked: Awaited<ReturnType<typeof markerLog>>;
}

/**
 * In the calling describe block: a Firestore client on the emulator and the marker log of `store`,
 * made before its tests and closed after them.
 */
export function useMarkerLog(store: MarkerStore, prefix: string): MarkerLogFixture {
  const fixture = {} as MarkerLogFixture;
  beforeAll(async () => {
    fixture.firestore = emulatorClients().firestore;
    fixture.marked = await markerLog(store, prefix);
  });
  afterAll(async () => {
    await fixture.marked?.close();
    await fixture.firestore?.terminate();
  });
  return fixture;
}
