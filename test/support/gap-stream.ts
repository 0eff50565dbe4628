import { prng } from '../../cli/generate/log';
import { DEFAULT_GAP_RULES } from '../../functions/gap-detector/core';
import { cardScanned, crmSynced, followupSent, leadCreated, leadTagged } from './events';

/** The event time the gap streams start at. */
export const GAP_STREAM_T0 = Date.parse('2026-03-01T10:00:00Z');
const T0 = GAP_STREAM_T0;
const MIN = 60_000;
const DEADLINES = DEFAULT_GAP_RULES.chainDeadlinesMs;

/**
 * A log with every way events go missing, in arrival order: numbered events of three sources
 * lost, delayed within the grace period and past it, and re-sent; chains of scan → lead → CRM
 * sync → follow-up that stop, whose successor comes in time, arrives after its upstream was
 * reported broken, or comes before its predecessor. `size`: how many minutes of numbered events
 * per source, how many chains (a smaller log for the emulator's round trips).
 */
export function gapStream(seed: number, size: { readonly numberedMinutes: number; readonly flows: number } = { numberedMinutes: 90, flows: 80 }): object[] {
  const random = prng(seed);
  const arrivals: Array<{ at: number; n: number; event: object }> = [];
  const add = (at: number, event: object) => arrivals.push({ at, n: arrivals.length, event });
  for (const source of ['//tags/a', '//tags/b', '//tags/c']) {
    let n = 0;
    for (let t = random() * MIN; t < size.numberedMinutes * MIN; t += 10_000 + random() * 30_000) {
      n++;
      const roll = random();
      if (roll < 0.04) continue; // lost: a gap that stays
      const delay = roll < 0.1 ? random() * 12 * MIN : random() * 3000; // some within the grace period, some after it
      const event = leadTagged({ id: `${source}-${n}`, source, sequence: String(n), time: new Date(T0 + t).toISOString(), data: { lead_id: `lead-tag-${n}` } });
      add(t + delay, event);
      if (random() < 0.03) add(t + delay + 1000, event); // re-sent: a duplicate by id, its number a repeat
    }
  }
  for (let flow = 0; flow < size.flows; flow++) {
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

