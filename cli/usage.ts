/** Bad usage or unreadable input: the CLI prints its message on one line and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** True for an error the CLI reports as bad usage (exit 2): ours, or one of `node:util` parseArgs. */
export function isUsageError(err: unknown): boolean {
  return err instanceof UsageError || ((err as { code?: unknown }).code as string | undefined)?.startsWith?.('ERR_PARSE_ARGS') === true;
}
