/** Attributes that repeat `type`, `source` and `id` of an event for filtering (DESIGN §2). */
export function eventAttributes(
  event: { type: string; source: string; id: string },
  extra: Record<string, string> = {},
): Record<string, string> {
  return { type: event.type, source: event.source, id: event.id, ...extra };
}
