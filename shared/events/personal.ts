import { z } from 'zod';
import { CallCompletedData, CardScannedData, catalog, CrmSyncedData, LeadCreatedData, type EventType } from './catalog';

/**
 * Which fields of the catalog hold personal data: a zod registry over the catalog's own field
 * schemas, so the knowledge sits on the schemas and the paths are derived from them (a field
 * renamed in the catalog moves with its mark; the test of the paths fails if one is lost).
 */
export const personalData = z.registry<{ personal: true }>();
for (const field of [
  CardScannedData.shape.contact,
  LeadCreatedData.shape.email,
  LeadCreatedData.shape.phone,
  CrmSyncedData.shape.email,
  CrmSyncedData.shape.phone,
  CallCompletedData.shape.from,
  CallCompletedData.shape.to,
]) {
  personalData.add(field, { personal: true });
}

type Shape = Record<string, z.ZodType>;

function shapeOf(schema: z.ZodType): Shape | undefined {
  let s: z.ZodType = schema;
  while (s instanceof z.ZodOptional || s instanceof z.ZodNullable) s = s.unwrap() as z.ZodType;
  return s instanceof z.ZodObject ? (s.shape as Shape) : undefined;
}

function collect(shape: Shape, prefix: readonly string[], into: string[][]): void {
  for (const [key, field] of Object.entries(shape)) {
    if (personalData.has(field)) {
      into.push([...prefix, key]);
      continue;
    }
    const inner = shapeOf(field);
    if (inner) collect(inner, [...prefix, key], into);
  }
}

/** Paths under `data` that hold personal data, per event type (e.g. `call.completed`: from, to). */
export const PERSONAL_DATA_PATHS: Readonly<Record<EventType, readonly (readonly string[])[]>> = Object.fromEntries(
  (Object.keys(catalog) as EventType[]).map((type) => {
    const paths: string[][] = [];
    collect(catalog[type].shape as Shape, [], paths);
    return [type, paths];
  }),
) as Record<EventType, string[][]>;
