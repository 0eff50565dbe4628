/**
 * A binary min-heap. The gap-detector keeps everything that can fall due (open gaps, waiting
 * chains) in one, so a watermark step looks at the earliest deadline instead of every open item.
 */
export class MinHeap<T> {
  private readonly items: T[] = [];

  /** `before(a, b)` is true when `a` must come out before `b`. */
  constructor(private readonly before: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    const items = this.items;
    let i = items.length;
    items.push(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = items[parent]!;
      if (!this.before(item, p)) break;
      items[i] = p;
      i = parent;
    }
    items[i] = item;
  }

  /**
   * The items for which `within` holds, in no particular order, without taking them out. `within`
   * must hold for an item's parent whenever it holds for the item (a deadline bound does).
   */
  collect(within: (item: T) => boolean, out: T[]): T[] {
    const items = this.items;
    const stack: number[] = items.length > 0 && within(items[0]!) ? [0] : [];
    for (let i = stack.pop(); i !== undefined; i = stack.pop()) {
      out.push(items[i]!);
      const left = 2 * i + 1;
      if (left < items.length && within(items[left]!)) stack.push(left);
      if (left + 1 < items.length && within(items[left + 1]!)) stack.push(left + 1);
    }
    return out;
  }

  pop(): T | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    let i = 0;
    const n = items.length;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && this.before(items[right]!, items[left]!) ? right : left;
      if (!this.before(items[child]!, last)) break;
      items[i] = items[child]!;
      i = child;
    }
    items[i] = last;
    return top;
  }
}

const NOTHING: readonly never[] = Object.freeze([]);

/**
 * Items by deadline, for a watermark that only moves forward. A new item waits in a bucket of
 * `bucketMs` (an O(1) append); a bucket enters the exact heap only when the watermark reaches
 * it, and then with only the items still `live`. Items settled long before their deadline (most
 * chains are satisfied within minutes of a 10 to 60 minute deadline) never cost a heap operation.
 */
export class DueQueue<T extends { readonly deadlineMs: number }> {
  private readonly heap: MinHeap<T>;
  private readonly buckets = new Map<number, T[]>();
  private readonly bucketOrder = new MinHeap<number>((a, b) => a < b);
  /** Buckets up to this index are in the heap; later items go straight there. */
  private promotedThrough = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly before: (a: T, b: T) => boolean,
    private readonly live: (item: T) => boolean,
    private readonly bucketMs = 60_000,
  ) {
    this.heap = new MinHeap(before);
  }

  push(item: T): void {
    const bucket = Math.floor(item.deadlineMs / this.bucketMs);
    if (bucket <= this.promotedThrough) {
      this.heap.push(item);
      return;
    }
    const list = this.buckets.get(bucket);
    if (list !== undefined) {
      list.push(item);
      return;
    }
    this.buckets.set(bucket, [item]);
    this.bucketOrder.push(bucket);
  }

  /** Takes the earliest item with deadline < `watermarkMs` (live or not: the caller checks), if any. */
  popBefore(watermarkMs: number): T | undefined {
    const through = Math.floor(watermarkMs / this.bucketMs);
    if (through > this.promotedThrough) this.promote(through);
    const top = this.heap.peek();
    if (top === undefined || top.deadlineMs >= watermarkMs) return undefined;
    return this.heap.pop();
  }

  /**
   * The live items with deadline < `watermarkMs`, earliest first, left in the queue: what
   * `popBefore` would yield live. It may move buckets into the heap (and drop items no longer
   * live from them), which changes no answer this queue gives.
   */
  liveBefore(watermarkMs: number): readonly T[] {
    const through = Math.floor(watermarkMs / this.bucketMs);
    if (through > this.promotedThrough) this.promote(through);
    const top = this.heap.peek();
    if (top === undefined || top.deadlineMs >= watermarkMs) return NOTHING;
    const due = this.heap.collect((item) => item.deadlineMs < watermarkMs, []).filter(this.live);
    return due.sort((a, b) => (this.before(a, b) ? -1 : this.before(b, a) ? 1 : 0));
  }

  private promote(through: number): void {
    this.promotedThrough = through;
    for (let b = this.bucketOrder.peek(); b !== undefined && b <= through; b = this.bucketOrder.peek()) {
      this.bucketOrder.pop();
      for (const item of this.buckets.get(b)!) if (this.live(item)) this.heap.push(item);
      this.buckets.delete(b);
    }
  }
}
