import { closeSync, openSync, write } from 'node:fs';
import { withPath, writeFully } from './output';

const LF = 10;

/**
 * Blocks written at once by libuv's thread pool, beyond the one being filled: past that the
 * main thread writes the block itself, so a slow disk holds back the replay instead of its memory.
 */
const MAX_WRITING = 4;

/**
 * events.ndjson's writer: an accepted event is written as the bytes of its input line (valid
 * UTF-8, which decoding and encoding again would give back unchanged), in large synchronous
 * blocks. Lines that follow one another in the same bytes, each ended by a bare LF there, are
 * copied as one run: most of a batch is accepted events, so a batch costs a few copies, not
 * one per line. A full block is written by the thread pool at its place in the file, while the
 * main thread goes on (the system call was 5 % of the main thread's profile at 1,000,000 events);
 * `close` waits for every write. A write that fails is reported by the next call, or by `close`.
 */
export class LineBytesWriter {
  private closed = false;
  private readonly fd: number;
  private block: Buffer;
  private used = 0;
  /** Where the next block goes in the file. */
  private position = 0;
  private writing = 0;
  private readonly spare: Buffer[] = [];
  private failure: Error | undefined;
  private drained: (() => void) | undefined;
  /** The run of lines waiting to be copied: `run[runStart, runEnd)`, then a LF. */
  private run: Buffer | undefined;
  private runStart = 0;
  private runEnd = 0;
  count = 0;

  constructor(
    readonly path: string,
    private readonly blockBytes = 1 << 20,
  ) {
    this.fd = withPath(path, () => openSync(path, 'w'));
    this.block = Buffer.allocUnsafe(blockBytes);
  }

  /** Writes `bytes[start, end)` as one line. */
  line(bytes: Buffer, start: number, end: number): void {
    if (this.failure) throw this.failure;
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
      this.writeNow(run.subarray(this.runStart, this.runEnd));
      this.writeNow(Buffer.from([LF]));
      return;
    }
    run.copy(this.block, this.used, this.runStart, this.runEnd);
    this.block[this.used + size - 1] = LF;
    this.used += size;
  }

  /** Hands what is held, the pending run included, to be written. */
  flush(): void {
    this.endRun();
    if (this.failure) throw this.failure;
    if (this.used === 0) return;
    const block = this.block;
    const length = this.used;
    this.used = 0;
    if (this.writing >= MAX_WRITING) {
      this.writeNow(block.subarray(0, length));
      return;
    }
    const position = this.position;
    this.position += length;
    this.block = this.spare.pop() ?? Buffer.allocUnsafe(this.blockBytes);
    this.writing++;
    this.writeLater(block, 0, length, position);
  }

  private writeLater(block: Buffer, offset: number, length: number, position: number): void {
    write(this.fd, block, offset, length, position, (err, written) => {
      // A short write (a disk filling up, a file-size limit) is not an error by itself: write the
      // rest, so that the next write reports the fault instead of the file silently losing its tail.
      if (!err && written < length) return this.writeLater(block, offset + written, length - written, position + written);
      if (err) {
        // As withPath names the file of a write that throws: a write by descriptor does not.
        err.path ??= this.path;
        this.failure ??= err;
      }
      this.writing--;
      this.spare.push(block);
      if (this.writing === 0) this.drained?.();
    });
  }

  /** Writes `bytes` at the end of what was handed out, on this thread. */
  private writeNow(bytes: Buffer): void {
    const position = this.position;
    this.position += bytes.length;
    try {
      writeFully(this.path, this.fd, bytes, position);
    } catch (err) {
      // The file has a hole now: every later call reports the fault too.
      this.failure ??= err as Error;
      throw err;
    }
  }

  /**
   * Writes what is held, waits for every write and closes the file; rejects with the first write
   * that failed. A second call does nothing (a run that failed closes in its cleanup too).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      this.flush();
    } catch (err) {
      this.failure ??= err as Error;
    }
    if (this.writing > 0) await new Promise<void>((resolve) => (this.drained = resolve));
    closeSync(this.fd);
    if (this.failure) throw this.failure;
  }
}
