import type { CloudEvent } from '@google-cloud/functions-framework';
import { MemoryPublisher } from '../../shared/adapters/memory-publisher';
import { silentLogger } from '../../shared/log';
import { pushBody, type MessagePublishedData } from '../../shared/pubsub/push';
import { TOPICS } from '../../shared/topology';
import { DEFAULT_GAP_RULES } from '../../functions/gap-detector/core';
import { DEFAULT_GAP_DETECTOR_CONFIG, gapDetectorHandler } from '../../functions/gap-detector/handler';
import { MemoryGapStore } from '../../functions/gap-detector/memory-store';
import { prng } from '../../cli/generate/log';
import { cardScanned, crmSynced, followupSent, leadCreated, leadTagged } from '../support/events';
import { replayText } from '../support/replay';

const T0 = Date.parse('2026-03-01T10:00:00Z');
const MIN = 60_000;
const DEADLINES = DEFAULT_GAP_RULES.chainDeadlinesMs;

/**
 * A log with every way events go missing, in arrival order: numbered events of three sources
 * lost, delayed within the grace period and past it, and re-sent; chains of scan → lead → CRM
 * sync → follow-up that stop, whose successor comes in time, arrives after its upstream was
 * reported broken, or comes before its predecessor.
 */
function stream(seed: number): object[] {
  const random = prng(seed);
  const arrivals: Array<{ at: number; n: number; event: object }> = [];
  const add = (at: number, event: object) => arrivals.push({ at, n: arrivals.length, event });
  for (const source of ['//tags/a', '//tags/b', '//tags/c']) {
    let n = 0;
    for (let t = random() * MIN; t < 90 * MIN; t += 10_000 + random() * 30_000) {
      n++;
      const roll = random();
      if (roll < 0.04) continue; // lost: a gap that stays
      const delay = roll < 0.1 ? random() * 12 * MIN : random() * 3000; // some within the grace period, some after it
      const event = leadTagged({ id: `${source}-${n}`, source, sequence: String(n), time: new Date(T0 + t).toISOString(), data: { lead_id: `lead-tag-${n}` } });
      add(t + delay, event);
      if (random() < 0.03) add(t + delay + 1000, event); // re-sent: a duplicate by id, its number a repeat
    }
  }
  for (let flow = 0; flow < 80; flow++) {
    const card = `card-${flow}`;
    const lead = `lead-${flow}`;
    const builders = [
      (time: string) => cardScanned({ id: `scan-${flow}`, source: '//scanner', time, data: { card_id: card } }),
      (time: string) => leadCreated({ id: `lead-${flow}`, source: '//crm', time, data: { lead_id: lead, card_id: card } }),
      (time: string) => crmSynced({ id: `sync-${flow}`, source: '//crm', time, data: { lead_id: lead } }),
      (time: string) => followupSent({ id: `fu-${flow}`, source: '//followups', time, data: { lead_id: lead, message_id: `msg-${flow}` } }),
    ];
    const deadlines = [DEADLINES['card.scanned'], DEADLINES['lead.created'], DEADLINES['crm.synced']];
    let t = random() * 70 * MIN;
    add(t + random() * 2000, builders[0]!(new Date(T0 + t).toISOString()));
    for (let link = 0; link < 3; link++) {
      const roll = random();
      if (roll < 0.12) break; // the chain stops: broken
      let delay = random() * 2000;
      if (roll < 0.24) t += deadlines[link]! + random() * 10 * MIN; // the successor itself comes after the deadline
      else t += random() * deadlines[link]! * 0.8;
      if (roll >= 0.24 && roll < 0.34) delay = deadlines[link]! + random() * 15 * MIN; // in time, but delivered long after
      if (roll >= 0.34 && roll < 0.4) delay = -random() * 3 * MIN; // delivered before its predecessor, now and then
      add(t + delay, builders[link + 1]!(new Date(T0 + t).toISOString()));
    }
  }
  return arrivals.sort((a, b) => a.at - b.at || a.n - b.n).map((a) => a.event);
}

const push = (topic: string, data: string, id: string): CloudEvent<MessagePublishedData> => ({
  specversion: '1.0',
  id,
  type: 'google.cloud.pubsub.topic.v1.messagePublished',
  source: `//pubsub.googleapis.com/projects/demo/topics/${topic}`,
  data: pushBody(data, {}, id),
});

const sorted = (findings: readonly object[]) => findings.map((f) => JSON.stringify(f)).sort();

describe('gap-detector: replay and the function decide alike', () => {
  it.each([1, 2, 3])('the same log (seed %i) through replay and through the function (memory store, fixed clock) gives the same findings', async (seed) => {
    const events = stream(seed);
    const text = events.map((e) => JSON.stringify(e)).join('\n') + '\n';
    const replay = await replayText(text, { now: T0 + 24 * 60 * MIN });
    const duplicate = new Set(replay.findings.filter((f) => f.kind === 'duplicate').map((f) => f.line as number));
    expect(replay.findings.filter((f) => f.kind === 'invalid')).toEqual([]);

    // The function: every accepted event through events-unique, every dropped duplicate through
    // events-duplicates (as the deduplicator hands them on), then one tick whose watermark is the replay's final one.
    const finalWatermark = Date.parse(replay.summary.watermark!);
    const clock = { now: () => finalWatermark + DEFAULT_GAP_DETECTOR_CONFIG.state.allowedLatenessMs };
    const publisher = new MemoryPublisher();
    const handler = gapDetectorHandler({
      publisher,
      store: new MemoryGapStore(),
      clock,
      config: { ...DEFAULT_GAP_DETECTOR_CONFIG, foldIntervalMs: 0, watermarkStepMs: 0 },
      logger: silentLogger,
      instanceId: 'parity',
    });
    for (const [i, text] of events.map((e) => JSON.stringify(e)).entries()) {
      const line = i + 1;
      await handler(duplicate.has(line) ? push(TOPICS.duplicates, text, `d-${line}`) : push(TOPICS.unique, text, `u-${line}`));
    }
    await handler(push(TOPICS.ticks, '{}', 'tick'));

    const gapKinds = new Set(['gap', 'late', 'chain_broken']);
    const fromReplay = replay.findings.filter((f) => gapKinds.has(f.kind as string)).map(({ line: _, ...f }) => f);
    const fromFunction = publisher.json(TOPICS.findings) as object[];
    expect(sorted(fromFunction)).toEqual(sorted(fromReplay));
    // Not a vacuous match: the log exercises every kind, and the pending counts agree in spirit.
    const count = (kind: string, closes?: string) => fromReplay.filter((f) => f.kind === kind && (closes === undefined || f.closes === closes)).length;
    expect(count('gap')).toBeGreaterThan(3);
    expect(count('late', 'gap')).toBeGreaterThan(3);
    expect(count('late', 'chain_broken')).toBeGreaterThan(3);
    expect(count('chain_broken')).toBeGreaterThan(5);
  });
});
