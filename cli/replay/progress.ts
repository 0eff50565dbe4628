/** Where a replay is: lines read, and bytes of a known total when the input is files. */
export interface ProgressState {
  readonly lines: number;
  readonly elapsedMs: number;
  readonly bytes?: number;
  readonly totalBytes?: number;
}

const n = (x: number) => Math.round(x).toLocaleString('en-US');

function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/**
 * One line of progress: percentage and ETA when the input's size is known (files), otherwise
 * the count and the rate (standard input).
 */
export function progressText(p: ProgressState): string {
  const seconds = p.elapsedMs / 1000;
  const rate = seconds > 0 ? p.lines / seconds : 0;
  const head = `replay: ${n(p.lines)} lines, ${n(rate)} lines/s`;
  if (p.totalBytes === undefined || p.bytes === undefined || p.totalBytes <= 0) return head;
  const share = Math.min(1, p.bytes / p.totalBytes);
  const eta = share > 0 ? (p.elapsedMs / share) * (1 - share) : undefined;
  return `${head}, ${Math.floor(share * 100)} % of input${eta === undefined ? '' : `, about ${duration(eta)} left`}`;
}

export type ProgressMode = 'auto' | 'always' | 'never';

/**
 * Progress on stderr: redrawn in place on a terminal; with `always` and no terminal, one line
 * every 10 s; with `auto` and no terminal (CI logs, a pipe), nothing.
 */
export function progressReporter(options: {
  readonly mode: ProgressMode;
  readonly tty: boolean;
  readonly write: (text: string) => void;
  readonly sizes?: () => { bytes: number; totalBytes: number } | undefined;
  readonly clock?: () => number;
}) {
  const clock = options.clock ?? Date.now;
  const on = options.mode === 'always' || (options.mode === 'auto' && options.tty);
  const every = options.tty ? 250 : 10_000;
  const start = clock();
  let last = start;
  let shown = false;
  let lines = 0;
  const text = () => progressText({ lines, elapsedMs: clock() - start, ...(options.sizes?.() ?? {}) });
  return {
    update(read: number): void {
      lines = read;
      if (!on) return;
      const t = clock();
      if (t - last < every) return;
      last = t;
      shown = true;
      options.write(options.tty ? `\r\x1b[K${text()}` : `${text()}\n`);
    },
    /** Ends the progress line (on a terminal) before other text is written. */
    done(): void {
      if (shown && options.tty) options.write('\r\x1b[K');
      shown = false;
    },
    /** Where the run was: for a message after an interruption. */
    where(): string {
      return text().replace(/^replay: /, '');
    },
  };
}
