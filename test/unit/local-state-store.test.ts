import { parseStateStore } from '../../tools/local/cli';
import { DEFAULT_STATE_STORE, manifestTables, stateStoreOf } from '../../tools/local/stack';

/** Which state store the local stack gives its functions, and which Bigtable tables it creates. */
describe('local stack: the state store', () => {
  it.each([
    { option: undefined, env: {}, want: { stateStore: 'bigtable', instance: 'event-recovery' } },
    { option: undefined, env: { STATE_STORE: '' }, want: { stateStore: 'bigtable', instance: 'event-recovery' } },
    { option: undefined, env: { STATE_STORE: 'firestore' }, want: { stateStore: 'firestore', instance: 'event-recovery' } },
    { option: 'bigtable' as const, env: { STATE_STORE: 'firestore' }, want: { stateStore: 'bigtable', instance: 'event-recovery' } },
    { option: 'firestore' as const, env: { BIGTABLE_INSTANCE: 'my-instance' }, want: { stateStore: 'firestore', instance: 'my-instance' } },
  ])('option $option, environment $env -> $want', ({ option, env, want }) => {
    expect(stateStoreOf(option, env)).toEqual(want);
  });

  it('defaults to the deployment default, Bigtable', () => {
    expect(DEFAULT_STATE_STORE).toBe('bigtable');
  });

  it('refuses a state store or an instance that is not one, naming the variable', () => {
    expect(() => stateStoreOf(undefined, { STATE_STORE: 'spanner' })).toThrow(/^STATE_STORE: /);
    expect(() => stateStoreOf(undefined, { BIGTABLE_INSTANCE: 'X' })).toThrow(/^BIGTABLE_INSTANCE: must be 6-33 characters/);
    expect(() => parseStateStore('memory')).toThrow('--state-store must be bigtable or firestore, not memory');
    expect(parseStateStore('firestore')).toBe('firestore');
  });

  it('creates each table of the manifest once, with the families every function that lists it names', () => {
    expect(
      manifestTables([
        { bigtable: [{ table: 'a', families: ['k'] }] },
        {},
        { bigtable: [{ table: 'a', families: ['k', 'x'] }, { table: 'b', families: ['m'] }] },
      ]),
    ).toEqual([
      { table: 'a', families: ['k', 'x'] },
      { table: 'b', families: ['m'] },
    ]);
    expect(manifestTables().map((t) => t.table).sort()).toEqual(['checker-outcomes', 'dedup-keys', 'gap-chains', 'gap-markers']);
  });
});
