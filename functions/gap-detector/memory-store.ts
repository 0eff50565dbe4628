import type { BusinessEvent } from '../../shared/events/envelope';
import { chainKeys } from './chains';
import type { SlotRecord, SourceRecord } from './records';
import type { FoldOptions, GapStateContext, GapStore, OutboxMessage, PendingMarker, RecordedWatermark, SequenceMarker } from './store';
import { chainTransition, foldThrottled, foldTransition, sweepTransition } from './transitions';

/**
 * In-process state for contract tests: the same steps and transitions as the Firestore store,
 * in maps. Markers keep insertion order, which is their arrival order.
 */
export class MemoryGapStore implements GapStore {
  readonly markers = new Map<string, PendingMarker>();
  readonly sources = new Map<string, SourceRecord>();
  readonly slots = new Map<string, SlotRecord>();
  readonly watermarks = new Map<string, RecordedWatermark>();
  readonly outbox = new Map<string, OutboxMessage & { readonly writtenAtMs: number }>();
  private arrivals = 0;

  async recordSequence(marker: SequenceMarker): Promise<'recorded' | 'repeat'> {
    const id = JSON.stringify([marker.source, marker.seq]);
    if (this.markers.has(id)) return 'repeat';
    this.markers.set(id, { ...marker, order: ++this.arrivals });
    return 'recorded';
  }

  async foldSource(source: string, watermarkMs: number, ctx: GapStateContext, options: FoldOptions): Promise<OutboxMessage[]> {
    const record = this.sources.get(source);
    if (foldThrottled(record, ctx, options)) return [];
    const pending = [...this.markers].filter(([, m]) => m.source === source);
    const result = foldTransition(source, record, pending.map(([, m]) => m), watermarkMs, ctx);
    if (result === undefined) return [];
    this.sources.set(source, result.record);
    for (const [id] of pending) this.markers.delete(id);
    return this.write(result.outbox, ctx);
  }

  async oldestPendingSource(): Promise<string | undefined> {
    for (const m of this.markers.values()) return m.source;
    return undefined;
  }

  async sourcesDue(watermarkMs: number, limit: number): Promise<string[]> {
    return [...this.sources.values()]
      .filter((r) => r.nextDueMs !== null && r.nextDueMs < watermarkMs)
      .sort((a, b) => a.nextDueMs! - b.nextDueMs!)
      .slice(0, limit)
      .map((r) => r.source);
  }

  async applyChain(event: BusinessEvent, timeMs: number, watermarkMs: number, payload: string | undefined, ctx: GapStateContext): Promise<OutboxMessage[]> {
    const keys = chainKeys(event);
    const { changes, outbox } = chainTransition(new Map(keys.map((k) => [k, this.slots.get(k)])), event, timeMs, watermarkMs, payload, ctx);
    for (const [key, record] of changes) {
      if (record === null) this.slots.delete(key);
      else this.slots.set(key, record);
    }
    return this.write(outbox, ctx);
  }

  async sweepChains(watermarkMs: number, ctx: GapStateContext, limit: number): Promise<{ swept: number; messages: OutboxMessage[] }> {
    const due = [...this.slots.values()].filter((r) => r.dueMs !== null && r.dueMs < watermarkMs).sort((a, b) => a.dueMs! - b.dueMs!).slice(0, limit);
    const messages: OutboxMessage[] = [];
    for (const record of due) {
      const result = sweepTransition(record, watermarkMs, ctx);
      if (result.record === null) this.slots.delete(record.key);
      else this.slots.set(record.key, result.record);
      messages.push(...this.write(result.outbox, ctx));
    }
    return { swept: due.length, messages };
  }

  async readWatermark(): Promise<number> {
    return Math.max(Number.NEGATIVE_INFINITY, ...[...this.watermarks.values()].map((w) => w.ms));
  }

  async advanceWatermark(writer: string, ms: number, ctx?: GapStateContext, atMs?: number): Promise<void> {
    const before = this.watermarks.get(writer);
    if (before === undefined || ms > before.ms) this.watermarks.set(writer, { ms, atMs: atMs ?? ctx?.now ?? ms });
  }

  async readEventWatermark(tick: string): Promise<RecordedWatermark | undefined> {
    let top: RecordedWatermark | undefined;
    for (const [writer, w] of this.watermarks) if (writer !== tick && (top === undefined || w.ms > top.ms)) top = w;
    return top;
  }

  async pendingOutbox(writtenBeforeMs: number, limit: number): Promise<OutboxMessage[]> {
    return [...this.outbox.values()]
      .filter((m) => m.writtenAtMs <= writtenBeforeMs)
      .slice(0, limit)
      .map(({ writtenAtMs: _, ...m }) => m);
  }

  async deleteOutbox(ids: readonly string[]): Promise<void> {
    for (const id of ids) this.outbox.delete(id);
  }

  private write(messages: readonly OutboxMessage[], ctx: GapStateContext): OutboxMessage[] {
    for (const m of messages) this.outbox.set(m.id, { ...m, writtenAtMs: ctx.now });
    return [...messages];
  }
}
