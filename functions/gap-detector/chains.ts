import type { BusinessEvent } from '../../shared/events/envelope';
import { assertNever, keyText } from '../../shared/events/keys';

/** Event types that open a chain, each waiting for its successor (DESIGN §3). */
export type UpstreamType = 'card.scanned' | 'lead.created' | 'crm.synced';
export type SuccessorType = 'lead.created' | 'crm.synced' | 'followup.sent';

/** The chain table of DESIGN §3: what each upstream type waits for. */
export const SUCCESSOR_OF: Readonly<Record<UpstreamType, SuccessorType>> = {
  'card.scanned': 'lead.created',
  'lead.created': 'crm.synced',
  'crm.synced': 'followup.sent',
};

export function isUpstreamType(type: string): type is UpstreamType {
  return Object.prototype.hasOwnProperty.call(SUCCESSOR_OF, type);
}

/** The key a waiting upstream is filed under: the successor type and the id they share (in NFC, as business keys). */
export function awaitKey(expectedType: SuccessorType, id: string): string {
  id = keyText(id);
  // The type never contains '|', so the first '|' splits the key unambiguously. Joined, not
  // concatenated: a flat string, where a concatenation is a rope that a map key keeps alongside
  // its flattened copy (replay holds a retention's worth of keys).
  return [expectedType, id].join('|');
}

export interface ChainRoles {
  /** The key of the upstreams this event satisfies, as a successor. */
  readonly satisfies: string | undefined;
  /** What this event waits for, as an upstream. */
  readonly awaits: { readonly upstreamType: UpstreamType; readonly expectedType: SuccessorType; readonly key: string } | undefined;
}

const NO_ROLES: ChainRoles = { satisfies: undefined, awaits: undefined };

/** The keys a `data` schema declares (its catchall's index signature left out). */
type DeclaredKeys<D> = keyof { [K in keyof D as string extends K ? never : number extends K ? never : K]: D[K] };

/** What the chain rules read of an event: its identity and the ids in its `data` that link it. */
type ChainFields<E> = E extends { readonly type: infer T; readonly data: infer D }
  ? { readonly id: string; readonly type: T; readonly source: string; readonly data: Pick<D, Extract<DeclaredKeys<D>, 'card_id' | 'lead_id'>> }
  : never;

/**
 * An accepted event as the chain rules see it: any `BusinessEvent` is one. Replay hands the
 * decider this much without decoding the whole event (a worker sends the fields).
 */
export type ChainEvent = ChainFields<BusinessEvent>;

/**
 * The chain links of DESIGN §3: card.scanned → lead.created by `card_id`, lead.created →
 * crm.synced by `lead_id`, crm.synced → followup.sent by `lead_id`. A `lead.created` without
 * `card_id` satisfies nothing but still waits for its CRM sync. The two keys of one event never
 * coincide: the one it satisfies starts with its own type, the one it waits under with its successor's.
 */
export function chainRoles(event: ChainEvent): ChainRoles {
  switch (event.type) {
    case 'card.scanned':
      return { satisfies: undefined, awaits: awaiting('card.scanned', event.data.card_id) };
    case 'lead.created':
      return {
        satisfies: event.data.card_id === undefined ? undefined : awaitKey('lead.created', event.data.card_id),
        awaits: awaiting('lead.created', event.data.lead_id),
      };
    case 'crm.synced':
      return { satisfies: awaitKey('crm.synced', event.data.lead_id), awaits: awaiting('crm.synced', event.data.lead_id) };
    case 'followup.sent':
      return { satisfies: awaitKey('followup.sent', event.data.lead_id), awaits: undefined };
    case 'lead.tagged':
    case 'call.completed':
    case 'sale.recorded':
    case 'discount.issued':
      return NO_ROLES;
    default:
      return assertNever(event);
  }
}

/** The await keys an accepted event touches: the one it satisfies, then the one it waits under. */
export function chainKeys(event: ChainEvent): string[] {
  const roles = chainRoles(event);
  const keys: string[] = [];
  if (roles.satisfies !== undefined) keys.push(roles.satisfies);
  if (roles.awaits !== undefined) keys.push(roles.awaits.key);
  return keys;
}

function awaiting(upstreamType: UpstreamType, id: string): NonNullable<ChainRoles['awaits']> {
  const expectedType = SUCCESSOR_OF[upstreamType];
  return { upstreamType, expectedType, key: awaitKey(expectedType, id) };
}
