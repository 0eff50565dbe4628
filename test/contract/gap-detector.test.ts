import { MemoryPublisher } from '../../shared/adapters/memory-publisher';
import { silentLogger } from '../../shared/log';
import type { OutboundMessage, Publisher } from '../../shared/ports';
import { pushBody } from '../../shared/pubsub/push';
import { TOPICS } from '../../shared/topology';
import { DEFAULT_GAP_DETECTOR_CONFIG, gapDetectorHandler, type GapDetectorConfig } from '../../functions/gap-detector/handler';
import { MemoryGapStore } from '../../functions/gap-detector/memory-store';
import type { GapStateContext } from '../../functions/gap-detector/store';
import { serveFunction } from '../support/harness';
import { cardScanned, leadCreated, leadTagged } from '../support/events';

const T0 = Date.parse('2026-03-01T10:00:00Z');
const MIN = 60_000;
const at = (minutes: number) => new Date(T0 + minutes * MIN).toISOString();
const LATENESS = DEFAULT_GAP_DETECTOR_CONFIG.state.allowedLatenessMs;

let servers = 0;

/** gap-detector served over HTTP, as a push subscription reaches it, with in-memory state and a clock the test moves. */
async function serve(options: { config?: Partial<GapDetectorConfig>; publisher?: Publisher; store?: MemoryGapStore } = {}) {
  const clock = { ms: T0 };
  const inner = new MemoryPublisher();
  const store = options.store ?? new MemoryGapStore();
  const config: GapDetectorConfig = { ...DEFAULT_GAP_DETECTOR_CONFIG, foldIntervalMs: 0, watermarkStepMs: 0, ...options.config };
  const handler = gapDetectorHandler({
    publisher: options.publisher ?? inner,
    store,
    clock: { now: () => clock.ms },
    config,
    logger: silentLogger,
    instanceId: 'instance-1',
  });
  const server = await serveFunction(`gap-detector-contract-${servers++}`, handler as never);
  let ids = 0;
  const push = async (topic: string, data: object | string, attributes: Record<string, string> = {}) => {
    const body = pushBody(typeof data === 'string' ? data : JSON.stringify(data), attributes, `m-${++ids}`);
    const res = await fetch(`${server.url}/projects/demo/topics/${topic}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return res.status;
  };
  return { clock, inner, store, push, close: server.close };
}

const tagged = (id: string, sequence: number, minutes: number) => leadTagged({ id, source: '//hub', sequence: String(sequence), time: at(minutes) });

describe('gap-detector over HTTP with the raw Pub/Sub push body', () => {
  it('sequences (of accepted events on events-unique, of dropped duplicates on events-duplicates): reports a gap once the tick takes the watermark past its grace period, then the late arrival', async () => {
    const s = await serve();
    try {
      expect(await s.push(TOPICS.unique, tagged('a', 1, 0))).toBe(204);
      expect(await s.push(TOPICS.unique, tagged('c', 3, 0))).toBe(204);
      // Nothing arrives any more; the wall clock moves on and the tick advances the watermark.
      s.clock.ms = T0 + 5 * MIN + LATENESS;
      expect(await s.push(TOPICS.ticks, '{}')).toBe(204);
      expect(s.inner.json(TOPICS.findings)).toEqual([]);
      s.clock.ms += 1;
      expect(await s.push(TOPICS.ticks, '{}')).toBe(204);
      expect(s.inner.json(TOPICS.findings)).toEqual([{ kind: 'gap', action: 'reported', source: '//hub', from_sequence: 2, to_sequence: 2 }]);
      expect(s.inner.messages[0]!.attributes).toMatchObject({ kind: 'gap', action: 'reported', source: '//hub', finding_id: expect.any(String) });

      const two = tagged('b', 2, 0.5);
      expect(await s.push(TOPICS.unique, two)).toBe(204);
      expect(await s.push(TOPICS.unique, two)).toBe(204); // redelivered
      expect(await s.push(TOPICS.duplicates, tagged('b-copy', 2, 0.5))).toBe(204); // a dropped duplicate that used the same number
      expect(await s.push(TOPICS.ticks, '{}')).toBe(204);
      expect(s.inner.json(TOPICS.findings).slice(1)).toEqual([{ kind: 'late', action: 'reported', event_id: 'b', type: 'lead.tagged', source: '//hub', closes: 'gap' }]);
      expect(s.store.outbox.size).toBe(0);
    } finally {
      await s.close();
    }
  });

  it('one wild number (issue 20): one sequence_jump finding; the numbers that continue from before are judged as usual; a redelivery repeats nothing', async () => {
    const s = await serve();
    try {
      for (let n = 1; n <= 5; n++) expect(await s.push(TOPICS.unique, tagged(`n${n}`, n, 0))).toBe(204);
      const wild = tagged('wild', 9007199254740991, 1);
      expect(await s.push(TOPICS.unique, wild)).toBe(204);
      expect(await s.push(TOPICS.unique, wild)).toBe(204); // redelivered
      for (let n = 6; n <= 40; n++) expect(await s.push(TOPICS.unique, tagged(`n${n}`, n, 2))).toBe(204);
      s.clock.ms = T0 + 120 * MIN + LATENESS;
      expect(await s.push(TOPICS.ticks, '{}')).toBe(204);
      expect(s.inner.json(TOPICS.findings)).toEqual([
        expect.objectContaining({ kind: 'sequence_jump', action: 'review', event_id: 'wild', source: '//hub', from_sequence: 5, to_sequence: 9007199254740991 }),
      ]);
      expect(s.inner.messages[0]!.attributes).toMatchObject({ kind: 'sequence_jump', action: 'review', finding_id: expect.any(String) });
    } finally {
      await s.close();
    }
  });

  it('chains: a scan without a lead is reported once overdue, and republished when the switch is on', async () => {
    const config = { state: { ...DEFAULT_GAP_DETECTOR_CONFIG.state, republish: true } };
    const s = await serve({ config });
    try {
      const scan = JSON.stringify(cardScanned({ id: 'c1', time: at(0), data: { card_id: 'card-1' } }));
      expect(await s.push(TOPICS.unique, scan)).toBe(204);
      expect(await s.push(TOPICS.unique, cardScanned({ id: 'c2', time: at(0), data: { card_id: 'card-2' } }))).toBe(204);
      expect(await s.push(TOPICS.unique, leadCreated({ id: 'l2', time: at(3), data: { card_id: 'card-2' } }))).toBe(204);
      // Another event carries the watermark past the scan's deadline; the next chain delivery sweeps.
      expect(await s.push(TOPICS.unique, leadTagged({ id: 't', time: at(10.5) }))).toBe(204);
      expect(await s.push(TOPICS.unique, leadCreated({ id: 'l9', time: at(10.5), data: { lead_id: 'lead-9', card_id: 'card-9' } }))).toBe(204);
      expect(s.inner.json(TOPICS.findings)).toEqual([
        { kind: 'chain_broken', action: 'reported', event_id: 'c1', type: 'card.scanned', source: '//test/producer', expected_type: 'lead.created' },
      ]);
      const retriggered = s.inner.messages.filter((m) => m.topic === TOPICS.retrigger);
      expect(retriggered.map((m) => m.data.toString())).toEqual([scan]);
      expect(retriggered[0]!.attributes).toEqual({ type: 'card.scanned', source: '//test/producer', id: 'c1', retrigger: 'chain_broken', expected_type: 'lead.created' });
      expect(await s.push(TOPICS.unique, scan)).toBe(204); // redelivered after the report: nothing new
      s.clock.ms = T0 + 60 * MIN;
      expect(await s.push(TOPICS.ticks, '{}')).toBe(204);
      expect(s.inner.json(TOPICS.findings).map((f) => (f as { event_id: string }).event_id)).toEqual(['c1', 'l2', 'l9']);
    } finally {
      await s.close();
    }
  });

  it('a backfill (events dated long before the wall clock): a tick soon after it reports nothing; only silence on the wall clock makes its chains and gaps come due', async () => {
    const s = await serve();
    try {
      // Last month's log, published now: the wall clock is 40 days past its events.
      s.clock.ms = T0 + 40 * 24 * 60 * MIN;
      expect(await s.push(TOPICS.unique, cardScanned({ id: 'c1', time: at(0), data: { card_id: 'card-1' } }))).toBe(204);
      expect(await s.push(TOPICS.unique, tagged('a', 1, 1))).toBe(204);
      expect(await s.push(TOPICS.unique, tagged('c', 3, 2))).toBe(204);
      // The scheduler's tick a few seconds later: event time has not moved, nothing is due.
      s.clock.ms += 5_000;
      expect(await s.push(TOPICS.ticks, '{}')).toBe(204);
      expect(s.inner.json(TOPICS.findings)).toEqual([]);
      // The stream stays silent: once the wall clock has moved past the gap's grace and the
      // chain's deadline (plus the allowed lateness), the ticks report them, as for live traffic.
      s.clock.ms += 10 * MIN + LATENESS;
      expect(await s.push(TOPICS.ticks, '{}')).toBe(204);
      expect(s.inner.json(TOPICS.findings)).toEqual(
        expect.arrayContaining([
          { kind: 'gap', action: 'reported', source: '//hub', from_sequence: 2, to_sequence: 2 },
          expect.objectContaining({ kind: 'chain_broken', event_id: 'c1', expected_type: 'lead.created' }),
        ]),
      );
      expect(s.inner.json(TOPICS.findings)).toHaveLength(2);
    } finally {
      await s.close();
    }
  });

  it('acks messages it cannot use: an unknown topic, an unparseable event', async () => {
    const s = await serve();
    try {
      expect(await s.push('events-raw', tagged('a', 1, 0))).toBe(204);
      expect(await s.push('events-valid', tagged('a', 1, 0))).toBe(204); // read through events-unique and events-duplicates since issue 21 (a topic gone since)
      expect(await s.push(TOPICS.unique, '{not json')).toBe(204);
      expect(s.store.markers.size).toBe(0);
      expect(s.inner.messages).toEqual([]);
    } finally {
      await s.close();
    }
  });

  it('routes topics named with the deployment prefix', async () => {
    const s = await serve({ config: { resourcePrefix: 'stage-' } });
    try {
      expect(await s.push(`stage-${TOPICS.unique}`, tagged('a', 1, 0))).toBe(204);
      expect([...s.store.sources.keys()]).toEqual(['//hub']);
    } finally {
      await s.close();
    }
  });

  it("writes its instance's watermark record at most once a step, the tick's flush included (the busiest document stays at 1 write a second)", async () => {
    const writes: Array<{ writer: string; atMs: number }> = [];
    const store = new (class extends MemoryGapStore {
      override advanceWatermark(writer: string, ms: number, ctx?: GapStateContext, atMs?: number): Promise<void> {
        writes.push({ writer, atMs: ctx?.now ?? Number.NaN });
        return super.advanceWatermark(writer, ms, ctx, atMs);
      }
    })();
    const s = await serve({ config: { watermarkStepMs: 1000 }, store });
    try {
      const own = () => writes.filter((w) => w.writer === 'instance-1').map((w) => w.atMs - T0);
      expect(await s.push(TOPICS.unique, tagged('a', 1, 0))).toBe(204);
      s.clock.ms = T0 + 300;
      expect(await s.push(TOPICS.unique, tagged('b', 2, 1))).toBe(204);
      // A tick within the step after the delivery's write leaves the newer time for later...
      s.clock.ms = T0 + 600;
      expect(await s.push(TOPICS.ticks, '{}')).toBe(204);
      expect(own()).toEqual([0]);
      // ...and flushes it once the step has passed.
      s.clock.ms = T0 + 1000;
      expect(await s.push(TOPICS.ticks, '{}')).toBe(204);
      expect(own()).toEqual([0, 1000]);
      expect(store.watermarks.get('instance-1')!.ms).toBe(Date.parse(at(1)));
    } finally {
      await s.close();
    }
  });

  it('answers 500 when publishing fails; the finding waits in the outbox and a later tick publishes it once', async () => {
    let fail = true;
    const inner = new MemoryPublisher();
    const publisher: Publisher = {
      publish: (topic: string, m: OutboundMessage) => (fail ? Promise.reject(new Error('pubsub unavailable')) : inner.publish(topic, m)),
    };
    const s = await serve({ publisher });
    try {
      await s.push(TOPICS.unique, tagged('a', 1, 0));
      await s.push(TOPICS.unique, tagged('c', 3, 0));
      s.clock.ms = T0 + 5 * MIN + LATENESS + 1;
      expect(await s.push(TOPICS.ticks, '{}')).toBe(500);
      expect(s.store.outbox.size).toBe(1);
      fail = false;
      expect(await s.push(TOPICS.ticks, '{}')).toBe(204);
      expect(inner.messages).toEqual([]); // too fresh: it may be a delivery's own, being published right now
      s.clock.ms += DEFAULT_GAP_DETECTOR_CONFIG.outboxGraceMs;
      expect(await s.push(TOPICS.ticks, '{}')).toBe(204);
      expect(inner.json(TOPICS.findings)).toEqual([{ kind: 'gap', action: 'reported', source: '//hub', from_sequence: 2, to_sequence: 2 }]);
      expect(s.store.outbox.size).toBe(0);
    } finally {
      await s.close();
    }
  });
  it('takes the number and the chains side by side, and answers only once both ended: a failed chain step is a 500 after the number is recorded, and the redelivery applies the chain once', async () => {
    const steps: string[] = [];
    let failChain = true;
    let releaseNumber!: () => void;
    const store = new (class extends MemoryGapStore {
      override async recordSequence(...args: Parameters<MemoryGapStore['recordSequence']>) {
        steps.push('number started');
        await new Promise<void>((resolve) => (releaseNumber = resolve));
        steps.push('number recorded');
        return super.recordSequence(...args);
      }
      override async applyChain(...args: Parameters<MemoryGapStore['applyChain']>) {
        steps.push('chain started');
        if (failChain) throw new Error('chain state unavailable');
        return super.applyChain(...args);
      }
    })();
    const s = await serve({ store });
    try {
      const card = cardScanned({ id: 'card-a', source: '//scanner', sequence: '1', time: at(0) });
      const answered = s.push(TOPICS.unique, card).then((status) => {
        steps.push(`answered ${status}`);
        return status;
      });
      // The chain step starts while the number is still being recorded (side by side) and fails at once...
      while (!steps.includes('chain started')) await new Promise((r) => setTimeout(r, 5));
      expect(steps).toEqual(['number started', 'chain started']);
      // ...yet the request is answered only once the number's step has ended too.
      await new Promise((r) => setTimeout(r, 50));
      expect(steps).not.toContain('answered 500');
      releaseNumber();
      expect(await answered).toBe(500);
      expect(steps).toEqual(['number started', 'chain started', 'number recorded', 'answered 500']);
      expect(store.slots.size).toBe(0);
      // The redelivery: the number is a repeat, the chain is opened once.
      failChain = false;
      const again = s.push(TOPICS.unique, card);
      while (!steps.includes('chain started', 4)) await new Promise((r) => setTimeout(r, 5));
      releaseNumber();
      expect(await again).toBe(204);
      expect([...store.sources.keys()]).toEqual(['//scanner']); // recorded, and folded
      expect(store.slots.size).toBeGreaterThan(0);
    } finally {
      await s.close();
    }
  });
});
