import { closeSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { describeIoError } from '../usage';

/**
 * An append-only file written in large synchronous blocks: replay's outputs are its hot path.
 * Each line is encoded into one block reused from write to write, as it comes: a line's text is
 * garbage as soon as it is written, instead of living on, with a block's worth of others, until
 * the block is joined (long enough for V8 to copy it between young generations, or promote it).
 */
export class BlockWriter {
  private closed = false;
  private readonly fd: number;
  private readonly block: Buffer;
  private used = 0;
  count = 0;

  constructor(
    readonly path: string,
    blockBytes = 1 << 20,
  ) {
    this.fd = withPath(path, () => openSync(path, 'w'));
    this.block = Buffer.allocUnsafe(blockBytes);
  }

  line(text: string): void {
    this.count++;
    // A UTF-16 code unit is at most 3 bytes of UTF-8 (a surrogate pair, 2 units, is 4).
    if (this.used + text.length * 3 + 1 > this.block.length) {
      this.flush();
      if (text.length * 3 + 1 > this.block.length) {
        this.writeAll(Buffer.from(`${text}\n`));
        return;
      }
    }
    this.used += this.block.write(text, this.used);
    this.block[this.used++] = 0x0a;
  }

  flush(): void {
    if (this.used === 0) return;
    this.writeAll(this.block.subarray(0, this.used));
    this.used = 0;
  }

  /** Flushes and closes the file; a second call does nothing (a run that failed closes in its cleanup too). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.flush();
    closeSync(this.fd);
  }

  private writeAll(bytes: Buffer): void {
    writeFully(this.path, this.fd, bytes);
  }
}

/**
 * Writes all of `bytes` to `fd`, at `position` in the file or, without one, where the file is. A
 * short write (a disk filling up, a file-size limit) is not an error by itself: write the rest, so
 * the next write reports the fault instead of the file silently losing its tail. An error names
 * the file.
 */
export function writeFully(path: string, fd: number, bytes: Buffer, position?: number): void {
  withPath(path, () => {
    for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done, position === undefined ? null : position + done);
  });
}

/** Runs `io`; an error it throws names the file (a write by descriptor does not). */
export function withPath<T>(path: string, io: () => T): T {
  try {
    return io();
  } catch (err) {
    if (err instanceof Error && (err as NodeJS.ErrnoException).path === undefined) (err as NodeJS.ErrnoException).path = path;
    throw err;
  }
}

/** A problem with where the outputs go: the command reports it as bad usage (one line, exit 2). */
export class OutputPathError extends Error {
  override readonly name = 'OutputPathError';
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

/**
 * Makes sure `dir` is a folder the replay can write into, creating it (and missing parents) if
 * needed. One folder at a time: `mkdirSync(..., { recursive: true })` never returns under
 * `/proc` on Node 20.
 */
export function prepareOutDir(dir: string): void {
  const missing: string[] = [];
  let at = resolve(dir);
  for (;;) {
    let stat;
    try {
      stat = statSync(at);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && dirname(at) !== at) {
        missing.unshift(at);
        at = dirname(at);
        continue;
      }
      if (code === 'ENOTDIR') throw new OutputPathError(`cannot write to ${dir}: a part of the path is a file, not a directory`, code);
      throw new OutputPathError(`cannot write to ${dir}: ${describeIoError(err)}`, code);
    }
    if (!stat.isDirectory()) {
      throw new OutputPathError(
        at === resolve(dir) ? `cannot write to ${dir}: it is a file, not a directory (--out names a directory)` : `cannot write to ${dir}: ${at} is a file, not a directory`,
        'ENOTDIR',
      );
    }
    break;
  }
  for (const folder of missing) {
    try {
      mkdirSync(folder);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new OutputPathError(`cannot create ${dir}: ${describeIoError(err)}`, (err as NodeJS.ErrnoException).code);
    }
  }
  const probe = join(dir, `.write-check-${process.pid}.tmp`);
  try {
    closeSync(openSync(probe, 'w'));
    rmSync(probe, { force: true });
  } catch (err) {
    throw new OutputPathError(`cannot write to ${dir}: ${describeIoError(err)}`, (err as NodeJS.ErrnoException).code);
  }
}

/** Makes sure a single output file (e.g. --html) can be written: its folder exists, and it is not a folder itself. */
export function checkOutFile(path: string): void {
  try {
    if (statSync(path).isDirectory()) throw new OutputPathError(`cannot write ${path}: it is a directory`, 'EISDIR');
  } catch (err) {
    if (err instanceof OutputPathError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new OutputPathError(`cannot write ${path}: ${describeIoError(err)}`);
  }
  const probe = `${path}.${process.pid}.tmp`;
  try {
    closeSync(openSync(probe, 'w'));
    rmSync(probe, { force: true });
  } catch (err) {
    throw new OutputPathError(`cannot write ${path}: ${describeIoError(err)}`, (err as NodeJS.ErrnoException).code);
  }
}

/**
 * Writes a file under a temporary name and renames it into place at the end, so that a run that
 * stops half-way never leaves a file that looks complete. `finish()` renames into place;
 * `abandon()` renames to `<name>.partial` (kept for a look at what was done) instead.
 */
export class AtomicFile {
  readonly tmpPath: string;
  constructor(readonly path: string) {
    this.tmpPath = join(dirname(path), `.${basename(path)}.tmp`);
  }

  get partialPath(): string {
    return `${this.path}.partial`;
  }

  /** Writes the whole content under the temporary name. */
  write(content: string): void {
    writeFileSync(this.tmpPath, content);
  }

  finish(): void {
    renameSync(this.tmpPath, this.path);
    rmSync(this.partialPath, { force: true });
  }

  /** Keeps what was written as `<name>.partial`; returns that path, or nothing if nothing was written. */
  abandon(): string | undefined {
    try {
      renameSync(this.tmpPath, this.partialPath);
      return this.partialPath;
    } catch {
      return undefined;
    }
  }
}
