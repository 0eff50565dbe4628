import type { DemoEvent, ExpectedFinding, InjectedFault, UpstreamFaults } from './types';
import { MINUTE, type DemoBuilder, type Item } from './world';

/**
 * Faults of the external APIs rather than of the stream: the stand-ins of the local stack answer
 * them, the events stay as produced. So the NDJSON of `--write-demo` and `event-recovery
 * generate` is the same stream, and a replay of it (no stand-in) sees nothing of them.
 *
 * - Stripe answers 503 for one sale's PaymentIntent, every time: revenue-checker's
 *   TransientError, redelivered up to the subscription's maximum attempts, dead-lettered, and
 *   triaged `transient` with the recorded reason.
 * - Twilio answers one call's lookup with a body cut off mid-object: an unexpected exception in
 *   call-duration-checker, dead-lettered the same way and triaged `poison`.
 *
 * Picks untouched events early in the stream, without the random generator: the stream's bytes
 * are those of the demo without these faults.
 */
export function injectUpstreamFaults(b: DemoBuilder): { upstream: UpstreamFaults; faults: InjectedFault[] } {
  const sale = nearest(b, b.startMs, (e) => e.type === 'sale.recorded' && typeof e.data.payment_intent_id === 'string');
  // The call nearest the sale: the two are retried at the same time, so the stack waits for their attempts once.
  const call = nearest(b, sale.timeMs, (e) => e.type === 'call.completed' && typeof e.data.call_sid === 'string');
  const paymentIntent = sale.event.data.payment_intent_id as string;
  const callSid = call.event.data.call_sid as string;
  const deadLetter = (item: Picked, subscription: string, cls: 'transient' | 'poison'): ExpectedFinding['match'] => ({
    kind: 'dead_letter',
    action: 'dead_lettered',
    event_id: item.event.id,
    type: item.event.type,
    source: item.event.source,
    subscription,
    class: cls,
  });
  return {
    upstream: { stripeUnavailable: [paymentIntent], twilioMalformed: [callSid] },
    faults: [
      {
        injector: 'dead letter: Stripe answers 503',
        detectedBy: 'dlq-triage',
        needs: ['stripe'],
        detail: `Stripe answers 503 for ${paymentIntent} every time (${sale.event.id})`,
        expect: [{ match: deadLetter(sale, 'revenue-checker-sales', 'transient'), reasonIncludes: '503' }],
      },
      {
        injector: 'dead letter: Twilio body cut off',
        detectedBy: 'dlq-triage',
        needs: ['twilio'],
        detail: `Twilio answers a body cut off mid-object for call ${callSid} (${call.event.id})`,
        expect: [{ match: deadLetter(call, 'call-duration-checker-calls', 'poison') }],
      },
    ],
  };
}

type Picked = Item & { event: DemoEvent };

/** Lead time for the retries: the message dead-letters well before the stream ends. */
const LEAD_MS = 10 * MINUTE;

/** The untouched event nearest `timeMs` that `where` accepts, early enough for its retries. */
function nearest(b: DemoBuilder, timeMs: number, where: (event: DemoEvent) => boolean): Picked {
  const item = b.items
    .filter((i): i is Picked => i.event !== undefined && !i.touched && b.early(i.timeMs, LEAD_MS) && where(i.event))
    .sort((x, y) => Math.abs(x.timeMs - timeMs) - Math.abs(y.timeMs - timeMs) || x.timeMs - y.timeMs)[0];
  if (!item) throw new Error('demo: no untouched event left for the stand-in faults');
  item.touched = true;
  return item;
}
