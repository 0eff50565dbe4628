/**
 * A fault worth retrying: the handler throws it, the Functions Framework answers 500, and Pub/Sub
 * redelivers with backoff until the subscription's dead-letter policy takes the message.
 */
export class TransientError extends Error {
  override readonly name: string = 'TransientError';
  constructor(
    message: string,
    readonly code: string,
    readonly context: { readonly eventId?: string; readonly messageId?: string } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The environment does not configure a function correctly: fails the cold start, loudly. */
export class ConfigError extends Error {
  override readonly name: string = 'ConfigError';
}

/**
 * gRPC statuses of a fault of the moment (Google's API guidance, AIP-194: retry UNAVAILABLE;
 * ABORTED is contention, DEADLINE_EXCEEDED and RESOURCE_EXHAUSTED pass, INTERNAL is what a broken
 * stream reports), as Google's clients throw them in `code`.
 */
const TRANSIENT_GRPC = new Set([4, 8, 10, 13, 14]);
/** Node's network errors that a retry can get past. */
const TRANSIENT_SYSCALL = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN']);

/** Whether a thrown error is a fault worth retrying: a TransientError, or one of the above. */
export function isTransient(err: unknown): boolean {
  if (err instanceof TransientError) return true;
  const code = err instanceof Error ? (err as { code?: unknown }).code : undefined;
  return (typeof code === 'number' && TRANSIENT_GRPC.has(code)) || (typeof code === 'string' && TRANSIENT_SYSCALL.has(code));
}
