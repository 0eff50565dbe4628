import type { Finding } from '../../shared/findings';
import { TOPICS } from '../../shared/topology';
import type { TopicObserver } from './observe';

/** A finding as a function published it; `undefined` for data that is not one. */
export function parseFinding(data: Buffer): Finding | undefined {
  try {
    const value = JSON.parse(data.toString('utf8')) as Finding;
    return typeof value === 'object' && value !== null && typeof value.kind === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The findings seen, each once: a redelivered handler republishes a finding under the same `finding_id`. */
export function collectFindings(observer: TopicObserver): Finding[] {
  const seen = new Set<string>();
  const findings: Finding[] = [];
  for (const m of observer.messages(TOPICS.findings)) {
    const key = m.attributes.finding_id ?? m.id;
    if (seen.has(key)) continue;
    seen.add(key);
    const f = parseFinding(m.data);
    if (f) findings.push(f);
  }
  return findings;
}
