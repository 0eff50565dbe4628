import { maskText, maskValue } from './mask';

export type Severity = 'DEBUG' | 'INFO' | 'NOTICE' | 'WARNING' | 'ERROR';

/** Structured logging as Cloud Logging reads it: one JSON object a line, personal data masked. */
export interface Logger {
  log(severity: Severity, message: string, fields?: Record<string, unknown>): void;
}

export function jsonLogger(write: (line: string) => void = (l) => process.stdout.write(l), base: Record<string, unknown> = {}): Logger {
  return {
    log(severity, message, fields = {}) {
      const entry = { severity, message: maskText(message), ...base, ...(maskValue(fields) as Record<string, unknown>) };
      write(`${JSON.stringify(entry)}\n`);
    },
  };
}

export const silentLogger: Logger = { log() {} };
