import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { emulatorEnv, startEmulator, type Emulator } from '../../local/emulators';

/**
 * Starts the Pub/Sub and Firestore emulators once for the whole run, on free ports. Test
 * workers inherit the environment set here; suites keep apart by prefixing their resources.
 * Every temporary file of the run (test outputs, the local stack's logs) goes under one folder,
 * through TMPDIR, which the teardown removes.
 */
export default async function globalSetup(): Promise<void> {
  const [pubsub, firestore] = await Promise.all([startEmulator('pubsub'), startEmulator('firestore')]);
  Object.assign(process.env, emulatorEnv(pubsub, firestore, 'event-recovery-test'));
  const runTmp = mkdtempSync(join(tmpdir(), 'event-recovery-test-'));
  process.env.TMPDIR = runTmp;
  const state = globalThis as { __emulators?: Emulator[]; __runTmp?: string };
  state.__emulators = [pubsub, firestore];
  state.__runTmp = runTmp;
}
