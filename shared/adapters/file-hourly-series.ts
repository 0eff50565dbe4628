import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { TransientError } from '../errors';
import type { HourlySeriesStore } from '../ports';
import { HourlySeriesFile, type HourlyRow } from '../volume/hourly';

/**
 * The hourly-series store as a JSON file (`{"hours": [...]}`, shared/volume/hourly.ts) that the
 * local stack rewrites, whole and atomically, from what it archives. A file that cannot be read
 * is a fault of the moment (the stack writes it before it ticks): the tick is retried. A file
 * that does not hold the format is a bug: it throws as such.
 */
export class FileHourlySeriesStore implements HourlySeriesStore {
  constructor(private readonly path: string) {}

  async read(range: { fromMs: number; toMs: number }): Promise<HourlyRow[]> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      throw new TransientError(`the hourly series ${this.path} could not be read: ${(err as Error).message}`, 'VOLUME_SERIES_UNREADABLE', {}, { cause: err });
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new Error(`the hourly series ${this.path} is not JSON: ${(err as Error).message}`, { cause: err });
    }
    const file = HourlySeriesFile.safeParse(json);
    if (!file.success) throw new Error(`the hourly series ${this.path} is not in the expected format: ${z.prettifyError(file.error)}`);
    return file.data.hours.filter((h) => {
      const ms = Date.parse(h.hour);
      return ms >= range.fromMs && ms < range.toMs;
    });
  }
}
