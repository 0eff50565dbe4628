/** A message to publish: JSON-serialisable data or raw bytes, with string attributes. */
export interface OutboundMessage {
  readonly data: Buffer;
  readonly attributes?: Record<string, string>;
  readonly orderingKey?: string;
}

/** Publishes to a topic of the manifest; resolves with the message id once the broker has it. */
export interface Publisher {
  publish(topic: string, message: OutboundMessage): Promise<string>;
}

/** The clock handlers read and pass to cores as data. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export * from './lookups';
export * from './ledger';
export * from './anomalies';
