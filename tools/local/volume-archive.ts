import { renameSync, writeFileSync } from 'node:fs';
import { TARGET_SUBSCRIPTION } from '../../shared/dead-letters';
import { resolveSubscriptions, TOPICS, topology } from '../../shared/topology';
import { archivedEvent, HourlySeries, type HourlyRow } from '../../shared/volume/hourly';
import type { Seen } from './observe';

/** The BigQuery subscription that archives events-unique in GCP (the manifest's), whose place this takes locally. */
export const ARCHIVE_SUBSCRIPTION = (() => {
  const sub = resolveSubscriptions(topology).find((s) => s.delivery === 'bigquery' && s.topic === TOPICS.unique);
  if (!sub) throw new Error(`the manifest archives nothing of ${TOPICS.unique}`);
  return sub.name;
})();

/**
 * The local stack's stand-in for the BigQuery archive of accepted events and its hourly-series
 * view (shared/volume/sql/hourly_series.sql): every events-unique message the stack sees is
 * counted into its hour as that subscription would archive it (a triage replay meant for another
 * subscription is not: its filter leaves it out; an event archived twice counts once, as the
 * view's COUNT(DISTINCT id)), over the past weeks the demo brings. `write` puts the series where
 * volume-monitor's embedded adapter reads them (VOLUME_SERIES_FILE), whole and atomically: the
 * stack writes before each tick, so a tick judges what was archived before it.
 */
export class VolumeArchive {
  private readonly series = new HourlySeries();
  private readonly ids = new Set<string>();
  private archivedCount = 0;

  constructor(
    readonly path: string,
    history: readonly HourlyRow[] = [],
  ) {
    this.series.addRows(history);
    this.write();
  }

  /** Counts one message seen on events-unique (others are ignored). */
  archive(m: Seen): void {
    if (m.topic !== TOPICS.unique) return;
    const target = m.attributes[TARGET_SUBSCRIPTION];
    if (target !== undefined && target !== ARCHIVE_SUBSCRIPTION) return;
    const text = m.data.toString('utf8');
    const e = archivedEvent(text);
    if (!e || this.ids.has(e.id)) return;
    this.ids.add(e.id);
    this.archivedCount++;
    this.series.add(e.type, e.timeMs, e.amountUsd);
  }

  /** Accepted events archived in this run (the history aside). */
  get archived(): number {
    return this.archivedCount;
  }

  write(): void {
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, `${JSON.stringify({ hours: this.series.rows() })}\n`);
    renameSync(tmp, this.path);
  }
}
