import { readdirSync, readFileSync } from 'node:fs';

/** A running process as /proc shows it. */
export interface RunningProcess {
  readonly pid: number;
  /** Its command line, argument by argument. */
  readonly args: string[];
}

/** The running processes whose program (first argument) ends with `program`, from /proc (Linux). */
export function processesOf(program: string): RunningProcess[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .flatMap((pid) => {
      try {
        const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        return args[0]?.endsWith(program) ? [{ pid: Number(pid), args }] : [];
      } catch {
        return []; // gone meanwhile
      }
    });
}
