import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_GAP_RULES, DEFAULT_GAP_STATE_CONFIG, findingOf, initialGapState, run, type DecideContext, type GapDecision, type GapInput } from '../../functions/gap-detector/core';
import { gapDetectorStage } from '../../cli/replay/gap-detector-stage';
import { RetainedSlots } from '../../cli/replay/chain-slots';
import { BENCH_START_MS, generateLog } from '../../cli/generate/log';
import { cardScanned, crmSynced, followupSent, leadCreated, ndjson } from '../support/events';
import { replayText } from '../support/replay';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const RETENTION = DEFAULT_GAP_STATE_CONFIG.retentionMs;
const CHAIN_TYPES = new Set(['card.scanned', 'lead.created', 'crm.synced', 'followup.sent']);
const at = (ms: number) => new Date(BENCH_START_MS + ms).toISOString();

/** Replays `text` through the gap-detector stage alone, with the given retention. */
async function chainFindings(text: string, retentionMs: number) {
  const { findings } = await replayText(text, { stages: [gapDetectorStage(DEFAULT_GAP_RULES, retentionMs)], now: BENCH_START_MS + 60 * DAY });
  return findings;
}

describe('replay chain state bounded by the retention', () => {
  it('a successor within the retention of the report still closes the chain late; after it, the key is forgotten', async () => {
    const scan = (id: string, card: string, ms: number) => cardScanned({ id, time: at(ms), data: { card_id: card } });
    const lead = (id: string, card: string, ms: number) => leadCreated({ id, time: at(ms), data: { lead_id: `lead-${id}`, card_id: card } });
    const text = ndjson(
      scan('c-near', 'card-near', 0),
      scan('c-far', 'card-far', 0),
      scan('c-tick', 'card-tick', 20 * MINUTE), // the watermark passes both deadlines: both reported at 20 minutes
      lead('l-near', 'card-near', 20 * MINUTE + RETENTION), // the retention after the report, not more
      lead('l-far', 'card-far', 20 * MINUTE + RETENTION + DAY), // more than the retention after the report
    );
    const bounded = await chainFindings(text, RETENTION);
    const unbounded = await chainFindings(text, Number.POSITIVE_INFINITY);
    const lates = (fs: Array<Record<string, unknown>>) => fs.filter((f) => f.kind === 'late').map((f) => f.upstream_id);
    expect(lates(unbounded)).toEqual(['c-near', 'c-far']);
    expect(lates(bounded)).toEqual(['c-near']);
  });

  it('an upstream arriving after its successor is satisfied within the retention, and waits again after it', async () => {
    const text = ndjson(
      followupSent({ id: 'f1', time: at(DAY), data: { lead_id: 'lead-1' } }),
      crmSynced({ id: 's1', time: at(DAY - MINUTE), data: { lead_id: 'lead-1' } }), // its follow-up came: nothing to report
      followupSent({ id: 'f2', time: at(2 * DAY), data: { lead_id: 'lead-2' } }),
      crmSynced({ id: 'x', time: at(2 * DAY + RETENTION + DAY), data: { lead_id: 'lead-x' } }), // moves the watermark on
      crmSynced({ id: 's2', time: at(2 * DAY + RETENTION + DAY), data: { lead_id: 'lead-2' } }), // f2 is forgotten
    );
    const broken = (fs: Array<Record<string, unknown>>) => fs.filter((f) => f.kind === 'chain_broken').map((f) => f.event_id);
    // At the end, x and s2 are pending (their deadline is after the final watermark).
    expect(broken(await chainFindings(text, Number.POSITIVE_INFINITY))).toEqual([]);
    expect(broken(await chainFindings(text, RETENTION))).toEqual([]);
    const later = ndjson(...text.trim().split('\n'), crmSynced({ id: 'end', time: at(3 * DAY + RETENTION + DAY), data: { lead_id: 'lead-end' } }));
    expect(broken(await chainFindings(later, Number.POSITIVE_INFINITY))).toEqual(['x']);
    expect(broken(await chainFindings(later, RETENTION))).toEqual(['x', 's2']);
  });

  it('on a generated month (chain partners within the retention), finds exactly what a state that forgets nothing finds, holding about a retention of keys', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chain-retention-'));
    try {
      const file = join(dir, 'month.ndjson');
      const events = 30_000;
      await generateLog(file, events, 11, BENCH_START_MS, (30 * DAY) / events);
      const lines = readFileSync(file, 'utf8').split('\n');
      const inputs: GapInput[] = [];
      let order = 0;
      for (const line of lines) {
        let e: { id?: string; type?: string; time?: string; source?: string; data?: unknown };
        try {
          e = JSON.parse(line) as typeof e;
        } catch {
          continue;
        }
        const timeMs = typeof e.time === 'string' ? Date.parse(e.time) : Number.NaN;
        if (!Number.isFinite(timeMs) || !CHAIN_TYPES.has(e.type ?? '') || typeof e.id !== 'string' || e.data === null || typeof e.data !== 'object') continue;
        inputs.push({ kind: 'advance', watermarkMs: timeMs });
        inputs.push({ kind: 'chain', event: e as never, timeMs, order: ++order, watermarkMs: Number.NEGATIVE_INFINITY });
      }
      const ctx: DecideContext = { rules: DEFAULT_GAP_RULES, redeliveries: false };
      const play = (retentionMs: number) => {
        const retention = new RetainedSlots(retentionMs, (): number => state.watermarkMs);
        const state = initialGapState(Number.NEGATIVE_INFINITY, retention);
        const findings: unknown[] = [];
        let maxSlots = 0;
        for (const input of inputs) {
          const decisions: readonly GapDecision[] = run(state, input, ctx);
          for (const d of decisions) {
            retention.note(state, d);
            const f = findingOf(d);
            if (f !== undefined) findings.push(f);
          }
          if (input.kind === 'advance') retention.forget(state);
          maxSlots = Math.max(maxSlots, state.slots.size);
        }
        return { findings, maxSlots, finalSlots: state.slots.size, held: retention.held, waiting: state.waitingChains };
      };
      const unbounded = play(Number.POSITIVE_INFINITY);
      const bounded = play(RETENTION);
      expect(bounded.findings).toEqual(unbounded.findings);
      expect(unbounded.findings.filter((f) => (f as { kind: string }).kind === 'chain_broken').length).toBeGreaterThan(100);
      // A week of a 30-day log: about a quarter of the keys, never the whole log's.
      expect(bounded.maxSlots).toBeLessThan(unbounded.finalSlots * 0.35);
      // Every key held is noted for forgetting but those whose upstreams still wait.
      expect(bounded.finalSlots - bounded.held).toBeLessThanOrEqual(bounded.waiting);
      expect(bounded.held).toBeGreaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
