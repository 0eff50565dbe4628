import { createHash } from 'node:crypto';
import { findingAttributes, type Finding } from './findings';
import { TOPICS } from './topology';
import type { Publisher } from './ports';

/**
 * A deterministic id for a finding or a derived message, from the parts that make it unique, so
 * that a redelivery republishes the same id and consumers can drop the repeat.
 */
export function derivedId(...parts: string[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url').slice(0, 32);
}

/** Publishes one finding to the findings topic with its filterable attributes. */
export function publishFinding(publisher: Publisher, finding: Finding, findingId: string): Promise<string> {
  return publisher.publish(TOPICS.findings, {
    data: Buffer.from(JSON.stringify(finding)),
    attributes: findingAttributes(finding, findingId),
  });
}

/** Attributes that repeat `type`, `source` and `id` of an event for filtering (DESIGN §2). */
export function eventAttributes(
  event: { type: string; source: string; id: string },
  extra: Record<string, string> = {},
): Record<string, string> {
  return { type: event.type, source: event.source, id: event.id, ...extra };
}
