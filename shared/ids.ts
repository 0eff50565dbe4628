import { createHash } from 'node:crypto';

/**
 * A deterministic id for a finding or a derived message, from the parts that make it unique, so
 * that a redelivery republishes the same id and consumers can drop the repeat.
 */
export function derivedId(...parts: string[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url').slice(0, 32);
}
