import { rmSync } from 'node:fs';
import type { Emulator } from '../../local/emulators';

export default async function globalTeardown(): Promise<void> {
  const state = globalThis as { __emulators?: Emulator[]; __runTmp?: string };
  await Promise.all((state.__emulators ?? []).map((e) => e.stop()));
  if (state.__runTmp) rmSync(state.__runTmp, { recursive: true, force: true });
}
