import { Env } from '../../functions/gap-detector';
import { topology } from '../../shared/topology';

describe("gap-detector's configuration: where the sequence markers and the chains are kept", () => {
  it('keeps them in Firestore unless STATE_STORE says bigtable; the tables are the ones the manifest names (Terraform and the local stack create them from there)', () => {
    const manifest = topology.functions.find((f) => f.name === 'gap-detector')!.bigtable!;
    expect(manifest).toEqual([expect.objectContaining({ table: 'gap-markers', families: ['m'] }), expect.objectContaining({ table: 'gap-chains', families: ['c'] })]);
    expect(Env.parse({})).toMatchObject({ STATE_STORE: 'firestore', GAP_MARKERS_TABLE: 'gap-markers', GAP_CHAINS_TABLE: 'gap-chains', GAP_CHAINS_FROM_FIRESTORE: false, BIGTABLE_INSTANCE: 'event-recovery' });
    // After an upgrade from chains in Firestore: read through (README, gap-detector).
    expect(Env.parse({ GAP_CHAINS_FROM_FIRESTORE: 'true' })).toMatchObject({ GAP_CHAINS_FROM_FIRESTORE: true });
    expect(Env.parse({ STATE_STORE: 'bigtable', GAP_MARKERS_TABLE: 'run1-gap-markers', GAP_CHAINS_TABLE: 'run1-gap-chains' })).toMatchObject({
      STATE_STORE: 'bigtable',
      GAP_MARKERS_TABLE: 'run1-gap-markers',
      GAP_CHAINS_TABLE: 'run1-gap-chains',
    });
  });

  it.each([['STATE_STORE', 'spanner'], ['GAP_MARKERS_TABLE', 'gap/markers'], ['GAP_MARKERS_TABLE', ''], ['GAP_CHAINS_TABLE', 'gap chains']])('refuses %s=%j at cold start', (name, value) => {
    expect(Env.safeParse({ [name]: value }).success).toBe(false);
  });
});
