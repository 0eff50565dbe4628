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
