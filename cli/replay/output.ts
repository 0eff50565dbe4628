import { closeSync, openSync, writeSync } from 'node:fs';

/** An append-only file written in large synchronous blocks: replay's outputs are its hot path. */
export class BlockWriter {
  private readonly fd: number;
  private pending: string[] = [];
  private pendingLength = 0;
  count = 0;

  constructor(
    readonly path: string,
    private readonly blockChars = 1 << 20,
  ) {
    this.fd = withPath(path, () => openSync(path, 'w'));
  }

  line(text: string): void {
    this.pending.push(text, '\n');
    this.pendingLength += text.length + 1;
    this.count++;
    if (this.pendingLength >= this.blockChars) this.flush();
  }

  flush(): void {
    if (this.pendingLength === 0) return;
    // A short write (a disk filling up, a file-size limit) is not an error by itself: write the
    // rest, so the next write reports the fault instead of the file silently losing its tail.
    const bytes = Buffer.from(this.pending.join(''));
    withPath(this.path, () => {
      for (let done = 0; done < bytes.length; ) done += writeSync(this.fd, bytes, done);
    });
    this.pending = [];
    this.pendingLength = 0;
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

/** Runs `io`; an error it throws names the file (a write by descriptor does not). */
function withPath<T>(path: string, io: () => T): T {
  try {
    return io();
  } catch (err) {
    if (err instanceof Error && (err as NodeJS.ErrnoException).path === undefined) (err as NodeJS.ErrnoException).path = path;
    throw err;
  }
}
