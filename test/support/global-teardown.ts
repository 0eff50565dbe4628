import { rmSync } from 'node:fs';
import type { Emulator } from '../../tools/local/emulators';

/** Stops what the setups started and removes the run's temporary folder (idempotent: both projects call it). */
export default async function globalTeardown(): Promise<void> {
  const state = globalThis as { __emulators?: Emulator[]; __runTmp?: string };
  const emulators = state.__emulators ?? [];
  state.__emulators = [];
  await Promise.all(emulators.map((e) => e.stop()));
  if (state.__runTmp) rmSync(state.__runTmp, { recursive: true, force: true });
}
