import { DueQueue, MinHeap } from '../../functions/gap-detector/heap';
import { prng } from '../../cli/generate/log';

interface Item {
  readonly deadlineMs: number;
  readonly n: number;
  live: boolean;
}
const before = (a: Item, b: Item) => a.deadlineMs < b.deadlineMs || (a.deadlineMs === b.deadlineMs && a.n < b.n);

describe('MinHeap', () => {
  it('pops in order, whatever the push order', () => {
    const random = prng(3);
    const heap = new MinHeap<number>((a, b) => a < b);
    const values = Array.from({ length: 500 }, () => Math.floor(random() * 100));
    values.forEach((v) => heap.push(v));
    const out: number[] = [];
    for (let v = heap.pop(); v !== undefined; v = heap.pop()) out.push(v);
    expect(out).toEqual([...values].sort((a, b) => a - b));
  });
});

describe('DueQueue: given items and a watermark that only moves forward, it yields exactly what is due, in order', () => {
  it('matches a plain sort, with items pushed before and after the watermark reached their bucket, and drops what is no longer live', () => {
    const random = prng(5);
    const queue = new DueQueue<Item>(before, (i) => i.live, 1000);
    const all: Item[] = [];
    const popped: Item[] = [];
    let watermark = 0;
    for (let n = 0; n < 3000; n++) {
      // Deadlines mostly ahead of the watermark, some already behind it (late arrivals).
      const item = { deadlineMs: watermark + Math.floor(random() * 8000) - 1500, n, live: true };
      all.push(item);
      queue.push(item);
      if (random() < 0.3) all[Math.floor(random() * all.length)]!.live = false;
      watermark += Math.floor(random() * 40);
      // What is due, read without taking it: exactly what popBefore then yields live, in that order.
      const listed = queue.liveBefore(watermark);
      expect(queue.liveBefore(watermark)).toEqual(listed);
      const poppedBefore = popped.length;
      let previous: Item | undefined;
      for (let i = queue.popBefore(watermark); i !== undefined; i = queue.popBefore(watermark)) {
        expect(i.deadlineMs).toBeLessThan(watermark);
        if (previous !== undefined) expect(before(previous, i)).toBe(true);
        previous = i;
        if (i.live) popped.push(i);
        i.live = false;
      }
      expect(popped.slice(poppedBefore)).toEqual(listed);
    }
    // Nothing live and due was left behind.
    expect(all.filter((i) => i.live && i.deadlineMs < watermark)).toEqual([]);
    const end = watermark + 1_000_000;
    const rest: Item[] = [];
    for (let i = queue.popBefore(end); i !== undefined; i = queue.popBefore(end)) if (i.live) rest.push(i);
    expect(rest).toEqual(all.filter((i) => i.live).sort((a, b) => (before(a, b) ? -1 : 1)));
    expect(new Set([...popped, ...rest]).size).toBe(popped.length + rest.length);
  });

  it('an item pushed into a bucket the watermark already reached comes out at the next step', () => {
    const queue = new DueQueue<Item>(before, () => true, 60_000);
    queue.push({ deadlineMs: 100_000, n: 1, live: true });
    expect(queue.popBefore(90_000)).toBeUndefined();
    queue.push({ deadlineMs: 95_000, n: 2, live: true });
    expect(queue.popBefore(99_000)).toEqual({ deadlineMs: 95_000, n: 2, live: true });
    expect(queue.popBefore(100_000)).toBeUndefined();
    expect(queue.popBefore(100_001)).toEqual({ deadlineMs: 100_000, n: 1, live: true });
  });
});
