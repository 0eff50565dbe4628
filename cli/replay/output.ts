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
    this.fd = openSync(path, 'w');
  }

  line(text: string): void {
    this.pending.push(text, '\n');
    this.pendingLength += text.length + 1;
    this.count++;
    if (this.pendingLength >= this.blockChars) this.flush();
  }

  flush(): void {
    if (this.pendingLength === 0) return;
    writeSync(this.fd, this.pending.join(''));
    this.pending = [];
    this.pendingLength = 0;
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}
