import { ensureRunTmp } from './run-tmp';

/** Global setup of the `unit` project: only the run's temporary folder. */
export default async function tmpSetup(): Promise<void> {
  ensureRunTmp();
}
