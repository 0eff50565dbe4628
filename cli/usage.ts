/** Bad usage, unreadable input or unwritable output: the CLI prints its message on one line and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** True for an error the CLI reports as bad usage (exit 2): ours, or one of `node:util` parseArgs. */
export function isUsageError(err: unknown): boolean {
  return err instanceof UsageError || ((err as { code?: unknown }).code as string | undefined)?.startsWith?.('ERR_PARSE_ARGS') === true;
}

const IO_ERRORS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a parent is not a folder',
  EEXIST: 'it already exists',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file too large',
  EROFS: 'read-only file system',
  EIO: 'input/output error',
  EMFILE: 'too many open files',
  ENAMETOOLONG: 'name too long',
  ELOOP: 'too many symbolic links',
};

/** A file-system error in a few words for one line of stderr (never a stack). */
export function describeIoError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return (code !== undefined && IO_ERRORS[code]) || (err as Error).message;
}

/** True for an error of the file system (it has an errno code such as ENOSPC), not a bug. */
export function isIoError(err: unknown): err is NodeJS.ErrnoException {
  const e = err as NodeJS.ErrnoException | undefined;
  return typeof e?.code === 'string' && typeof e.syscall === 'string';
}
