import { Bigtable, type Instance } from '@google-cloud/bigtable';

/**
 * The Bigtable instance that holds the hot per-event state (the deduplicator's keys, gap-detector's
 * sequence markers) when a deployment keeps it there. Bigtable bills provisioned nodes by the hour,
 * not operations (https://cloud.google.com/bigtable/pricing: "Node charges are for provisioned
 * resources, regardless of node usage"), where Firestore bills every document read, written and
 * deleted. The client finds the emulator through `BIGTABLE_EMULATOR_HOST` (DESIGN §8).
 * Client-side metrics are off: they would export to Cloud Monitoring from every instance.
 */
export function bigtableInstance(instanceId: string): Instance {
  return new Bigtable({ metricsEnabled: false }).instance(instanceId);
}

/**
 * A CheckAndMutateRow predicate that matches a row whose `family:column` cell is exactly `bytes`
 * (a value range closed at both ends): the condition of a write that must find the row as it read it.
 */
export function cellIs(family: string, column: string, bytes: Buffer) {
  return [{ family }, { column }, { value: { start: bytes, end: bytes } }];
}

export interface TableSpec {
  readonly table: string;
  readonly families: readonly string[];
}

/**
 * Creates the tables that do not exist yet (the emulator, and tests: in GCP, Terraform creates
 * them from the topology manifest). Safe to call concurrently: a table created meanwhile counts.
 */
export async function ensureTables(instance: Instance, specs: readonly TableSpec[]): Promise<void> {
  await Promise.all(
    specs.map(async (spec) => {
      try {
        await instance.createTable(spec.table, { families: spec.families.map((name) => ({ name })) });
      } catch (err) {
        if ((err as { code?: number }).code !== 6) throw err; // ALREADY_EXISTS
      }
    }),
  );
}
