import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Every temporary file of a test run (test outputs, the local stack's logs) goes under one
 * folder, through TMPDIR, which the teardown removes. Both projects' setups call this; the
 * second reuses the first one's folder.
 */
export function ensureRunTmp(): string {
  const state = globalThis as { __runTmp?: string };
  if (!state.__runTmp) {
    state.__runTmp = mkdtempSync(join(tmpdir(), 'event-recovery-test-'));
    process.env.TMPDIR = state.__runTmp;
  }
  return state.__runTmp;
}
