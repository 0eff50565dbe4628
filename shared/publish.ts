import { eventAttributes, INGEST_ID } from './attributes';
import { findingAttributes, type Finding } from './findings';
import { findingId, type Outcome } from './outcome';
import { TOPICS } from './topology';
import type { Publisher } from './ports';

/** Publishes one finding to the findings topic with its filterable attributes. */
export function publishFinding(publisher: Publisher, finding: Finding, id: string): Promise<string> {
  return publisher.publish(TOPICS.findings, {
    data: Buffer.from(JSON.stringify(finding)),
    attributes: findingAttributes(finding, id),
  });
}


export { eventAttributes, INGEST_ID };

/**
 * Publishes an outcome: the correction to events-corrected (attributes repeat `type`, `source`,
 * `id` and name the corrected event), each finding to findings under its derived id.
 */
export async function publishOutcome(publisher: Publisher, rule: string, outcome: Outcome): Promise<void> {
  const sends: Array<Promise<string>> = [];
  const c = outcome.correction;
  if (c) {
    sends.push(
      publisher.publish(TOPICS.corrected, {
        data: Buffer.from(JSON.stringify(c)),
        attributes: eventAttributes(c, c.correctionof === undefined ? {} : { correctionof: c.correctionof }),
      }),
    );
  }
  outcome.findings.forEach((f, i) => sends.push(publishFinding(publisher, f, findingId(rule, f, i))));
  await Promise.all(sends);
}
