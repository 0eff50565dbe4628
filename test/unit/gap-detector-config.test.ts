import { Env } from '../../functions/gap-detector';
import { topology } from '../../shared/topology';

describe("gap-detector's configuration: where the sequence markers are kept", () => {
  it('keeps them in Firestore unless STATE_STORE says bigtable; the table is the one the manifest names (Terraform and the local stack create it from there)', () => {
    const manifest = topology.functions.find((f) => f.name === 'gap-detector')!.bigtable!;
    expect(manifest).toEqual([expect.objectContaining({ table: 'gap-markers', families: ['m'] })]);
    expect(Env.parse({})).toMatchObject({ STATE_STORE: 'firestore', GAP_MARKERS_TABLE: manifest[0]!.table, BIGTABLE_INSTANCE: 'event-recovery' });
    expect(Env.parse({ STATE_STORE: 'bigtable', GAP_MARKERS_TABLE: 'run1-gap-markers' })).toMatchObject({ STATE_STORE: 'bigtable', GAP_MARKERS_TABLE: 'run1-gap-markers' });
  });

  it.each([['STATE_STORE', 'spanner'], ['GAP_MARKERS_TABLE', 'gap/markers'], ['GAP_MARKERS_TABLE', '']])('refuses %s=%j at cold start', (name, value) => {
    expect(Env.safeParse({ [name]: value }).success).toBe(false);
  });
});
