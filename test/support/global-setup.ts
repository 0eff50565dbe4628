import { emulatorEnv, startEmulator, type Emulator } from '../../tools/local/emulators';
import { ensureRunTmp } from './run-tmp';

/**
 * Global setup of the `integration` project: starts the Pub/Sub, Firestore and Bigtable emulators once for
 * the whole run, on free ports. Test workers inherit the environment set here; suites keep apart
 * by prefixing their resources.
 */
export default async function globalSetup(): Promise<void> {
  ensureRunTmp();
  const [pubsub, firestore, bigtable] = await Promise.all([startEmulator('pubsub'), startEmulator('firestore'), startEmulator('bigtable')]);
  Object.assign(process.env, emulatorEnv(pubsub, firestore, 'event-recovery-test', bigtable));
  (globalThis as { __emulators?: Emulator[] }).__emulators = [pubsub, firestore, bigtable];
}
