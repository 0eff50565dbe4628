/**
 * How the writes of each Firestore collection's busiest document grow with traffic: what the
 * scale model needs beyond the counts of a run, since a short local run cannot tell a document
 * written once per event key from one written once per second by design. One entry per
 * collection of shared/topology.json (a test holds them together).
 */
import { DEFAULT_GAP_DETECTOR_CONFIG } from '../../functions/gap-detector/handler';

export type CollectionClass =
  /**
   * Documents of one entity (an event key, a sequence number, a card or lead, a message): each
   * is written by the few events of its entity, so its rate does not grow with the total. The
   * model takes the most writes any one of them had in the run, spread over the run.
   */
  | { readonly kind: 'entity'; readonly why: string }
  /** Documents written at a pace the code sets, however busy: at most `writesPerSecond` each. */
  | { readonly kind: 'paced'; readonly writesPerSecond: number; readonly why: string };

const gap = DEFAULT_GAP_DETECTOR_CONFIG;

export const COLLECTION_CLASSES: Readonly<Record<string, CollectionClass>> = {
  'dedup-keys': { kind: 'entity', why: 'one document per key of an accepted event (id, business key, content; the content key inside the business key document where there is one): its claim, written once (no mark after the publish; a redelivery past the lease claims it again)' },
  'dlq-failures': { kind: 'entity', why: 'one document per failed attempt of a message, created once, never rewritten' },
  'gap-detector-markers': { kind: 'entity', why: 'one document per (source, sequence number), created once and deleted by the fold' },
  'gap-detector-sources': {
    kind: 'paced',
    writesPerSecond: 2000 / gap.foldIntervalMs,
    why: `one document per producer: a fold writes it at most twice (a busy producer's lease, the result) and folds are paced to one per ${gap.foldIntervalMs} ms per source, however busy the producer`,
  },
  'gap-detector-chains': { kind: 'entity', why: 'one document per card and per lead (a lead\'s CRM-sync and follow-up awaits together): the few events of one business flow' },
  'gap-detector-watermark': {
    kind: 'paced',
    writesPerSecond: 1000 / gap.watermarkStepMs,
    why: `one document per instance (and one for the tick), raised at most once per ${gap.watermarkStepMs} ms`,
  },
  'gap-detector-outbox': { kind: 'entity', why: 'one document per finding or retrigger message, written with its cause and deleted once published' },
  'checker-outcomes': { kind: 'entity', why: 'one document per checked event' },
  'dlq-triage-records': { kind: 'entity', why: 'one document per dead-lettered or invalid message, and per operator action on it' },
  'dlq-triage-audit': { kind: 'entity', why: 'one document per operator action' },
  'dlq-triage-jobs': { kind: 'entity', why: 'one document per bulk replay job, written by its operator' },
};
