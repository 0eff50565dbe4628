/** One run at a time per key, at most one start per interval (wall clock). */
export class Pacer {
  private readonly started = new Map<string, number>();
  private readonly running = new Set<string>();

  constructor(private readonly intervalMs: number) {}

  tryStart(key: string, now: number): boolean {
    if (this.running.has(key)) return false;
    const last = this.started.get(key);
    if (last !== undefined && now - last < this.intervalMs) return false;
    if (this.started.size >= 10_000) this.started.clear(); // a bound, not an eviction policy: pacing is an optimisation
    this.started.set(key, now);
    this.running.add(key);
    return true;
  }

  finish(key: string): void {
    this.running.delete(key);
  }
}
