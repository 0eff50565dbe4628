import type { Emulator } from '../../local/emulators';

export default async function globalTeardown(): Promise<void> {
  const emulators = (globalThis as { __emulators?: Emulator[] }).__emulators ?? [];
  await Promise.all(emulators.map((e) => e.stop()));
}
