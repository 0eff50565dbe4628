/**
 * A subscription filter of the manifest, applied as Pub/Sub applies it: a message that does not
 * match is acknowledged by Pub/Sub itself and never delivered
 * (https://cloud.google.com/pubsub/docs/filtering: "The Pub/Sub service automatically acknowledges
 * the messages that don't match the filter"). The emulator stores filters
 * without enforcing them, so the local stack (push gateway, progress), the cost run and the deploy
 * rehearsal apply them here. Only `attributes.KEY = "VALUE"`, the one shape the manifest's push
 * subscriptions use; any other throws, rather than deliver what GCP would not.
 */
export function filterMatches(filter: string | null | undefined, attributes: Readonly<Record<string, string>>): boolean {
  if (!filter) return true;
  const m = /^attributes\.([A-Za-z_][\w-]*)\s*=\s*"([^"]*)"$/.exec(filter.trim());
  if (!m) throw new UnsupportedFilterError(filter);
  return attributes[m[1]!] === m[2];
}

export class UnsupportedFilterError extends Error {
  constructor(readonly filter: string) {
    super(`cannot apply the subscription filter ${filter} locally (only attributes.KEY = "VALUE")`);
  }
}
