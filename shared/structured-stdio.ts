import { maskText } from './mask';

/**
 * A function process writes one JSON entry a line and nothing else (Cloud Logging reads each
 * line as one structured entry). Our own logs are JSON already (./log); what is not comes from
 * the Functions Framework and from Node: the "Serving function..." banner (outside
 * NODE_ENV=production), the stack it prints when a handler throws (`sendCrashResponse`), its
 * loader's errors, Node's warnings. Installed by the deployable entry before any of those:
 * every write to stdout or stderr that is not whole JSON lines becomes one entry, so a stack
 * trace of twenty lines is one ERROR entry, not twenty lines of text.
 */
export function installStructuredStdio(functionName: string | undefined, streams: ReadonlyArray<NodeJS.WriteStream> = [process.stdout, process.stderr]): void {
  for (const stream of streams) {
    if (INSTALLED.has(stream)) continue;
    INSTALLED.add(stream);
    const original = stream.write.bind(stream) as (chunk: string, cb?: (err?: Error | null) => void) => boolean;
    const severity = stream === process.stderr ? 'ERROR' : 'INFO';
    stream.write = ((chunk: string | Uint8Array, encoding?: BufferEncoding | ((err?: Error | null) => void), cb?: (err?: Error | null) => void) => {
      const callback = typeof encoding === 'function' ? encoding : cb;
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString(typeof encoding === 'string' ? encoding : 'utf8');
      return original(asJsonLines(text, severity, functionName), callback);
    }) as typeof stream.write;
  }
}

const INSTALLED = new WeakSet<NodeJS.WriteStream>();

/**
 * `text` as JSON lines: lines that are JSON objects pass as they are; each run of other lines
 * becomes one entry `{severity, message, function}`, its text masked. Pure.
 */
export function asJsonLines(text: string, severity: 'INFO' | 'ERROR', functionName?: string): string {
  if (text === '') return text;
  const lines = text.replace(/\n$/, '').split('\n');
  if (lines.every(isJsonEntry)) return text.endsWith('\n') ? text : `${text}\n`;
  const out: string[] = [];
  let plain: string[] = [];
  const flush = () => {
    const message = plain.join('\n').trimEnd();
    if (message.trim() !== '') out.push(JSON.stringify({ severity, message: maskText(message), ...(functionName ? { function: functionName } : {}) }));
    plain = [];
  };
  for (const line of lines) {
    if (isJsonEntry(line)) {
      flush();
      out.push(line);
    } else {
      plain.push(line);
    }
  }
  flush();
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}

/** Whether a log line is one JSON object, as Cloud Logging reads a structured entry. */
export function isJsonEntry(line: string): boolean {
  if (!line.startsWith('{')) return false;
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}
