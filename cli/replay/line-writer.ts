import { closeSync, openSync, writeSync } from 'node:fs';
import { withPath } from './output';

const LF = 10;

/**
 * events.ndjson's writer: an accepted event is written as the bytes of its input line (valid
 * UTF-8, which decoding and encoding again would give back unchanged), in large synchronous
 * blocks. Lines that follow one another in the same bytes, each ended by a bare LF there, are
 * copied as one run: most of a batch is accepted events, so a batch costs a few copies, not
 * one per line.
 */
export class LineBytesWriter {
  private closed = false;
  private readonly fd: number;
  private readonly block: Buffer;
  private used = 0;
  /** The run of lines waiting to be copied: `run[runStart, runEnd)`, then a LF. */
  private run: Buffer | undefined;
  private runStart = 0;
  private runEnd = 0;
  count = 0;

  constructor(
    readonly path: string,
    blockBytes = 1 << 20,
  ) {
    this.fd = withPath(path, () => openSync(path, 'w'));
    this.block = Buffer.allocUnsafe(blockBytes);
  }

  /** Writes `bytes[start, end)` as one line. */
  line(bytes: Buffer, start: number, end: number): void {
    this.count++;
    if (bytes === this.run && start === this.runEnd + 1 && bytes[this.runEnd] === LF) {
      this.runEnd = end;
      return;
    }
    this.endRun();
    this.run = bytes;
    this.runStart = start;
    this.runEnd = end;
  }

  private endRun(): void {
    const run = this.run;
    if (run === undefined) return;
    this.run = undefined;
    const size = this.runEnd - this.runStart + 1;
    if (this.used + size > this.block.length) this.flush();
    if (size > this.block.length) {
      this.write(run.subarray(this.runStart, this.runEnd));
      this.write(Buffer.from([LF]));
      return;
    }
    run.copy(this.block, this.used, this.runStart, this.runEnd);
    this.block[this.used + size - 1] = LF;
    this.used += size;
  }

  /** Writes what is held, the pending run included. */
  flush(): void {
    this.endRun();
    if (this.used === 0) return;
    this.write(this.block.subarray(0, this.used));
    this.used = 0;
  }

  private write(bytes: Buffer): void {
    // A short write (a disk filling up, a file-size limit) is not an error by itself: write the
    // rest, so the next write reports the fault instead of the file silently losing its tail.
    withPath(this.path, () => {
      for (let done = 0; done < bytes.length; ) done += writeSync(this.fd, bytes, done);
    });
  }

  /** Flushes and closes the file; a second call does nothing (a run that failed closes in its cleanup too). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.flush();
    closeSync(this.fd);
  }
}
