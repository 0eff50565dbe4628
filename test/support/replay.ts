import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { runReplay, type ReplayOptions } from '../../cli/replay/run';
import type { RunSummary as ReplaySummary } from '../../cli/replay/run';

export const REPLAY_NOW = Date.parse('2026-03-01T12:00:00Z');

export interface ReplayResult {
  findings: Array<Record<string, unknown>>;
  events: Array<Record<string, unknown>>;
  summary: ReplaySummary;
  dir: string;
}

/** Runs the embedded replay over an NDJSON text and reads its three outputs back. */
export async function replayText(text: string | Buffer, options: Partial<Omit<ReplayOptions, 'input' | 'outDir'>> = {}): Promise<ReplayResult> {
  const dir = mkdtempSync(join(tmpdir(), 'replay-test-'));
  await runReplay({ input: Readable.from([Buffer.from(text)]), outDir: dir, now: REPLAY_NOW, env: {}, ...options });
  return readOutputs(dir);
}

export function readOutputs(dir: string): ReplayResult {
  const lines = (file: string) =>
    readFileSync(join(dir, file), 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return {
    findings: lines('findings.ndjson'),
    events: lines('events.ndjson'),
    summary: JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as ReplaySummary,
    dir,
  };
}
