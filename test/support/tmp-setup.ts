import { ensureChromium } from './chromium';
import { ensureRunTmp } from './run-tmp';

/** Global setup of the `unit` project: the run's temporary folder, and Chromium for the report page test. */
export default async function tmpSetup(): Promise<void> {
  ensureRunTmp();
  ensureChromium();
}
