import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** The browser the page test drives: Debian's package, never a download by playwright. */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Installs Debian's `chromium` when it is missing, so that `npm ci && npm test` does all set-up
 * on a fresh machine (as root, with network to Debian's mirrors, as CI has).
 */
export function ensureChromium(log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): void {
  if (existsSync(CHROMIUM)) return;
  if (process.getuid?.() !== 0) {
    throw new Error(`${CHROMIUM} is missing and this is not root: install it with  sudo apt-get update && sudo apt-get install -y chromium`);
  }
  log(`test setup: ${CHROMIUM} is missing; installing Debian's chromium package (apt-get), once`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update'], { stdio: ['ignore', 'ignore', 'inherit'], env });
  execFileSync('apt-get', ['install', '-y', 'chromium'], { stdio: ['ignore', 'ignore', 'inherit'], env });
  if (!existsSync(CHROMIUM)) throw new Error(`apt-get install chromium did not provide ${CHROMIUM}`);
}
