import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { connect, createServer } from 'node:net';

/** The ports this process handed out: never handed out twice, though each is free again until its server binds it. */
const issued = new Set<number>();

/**
 * A TCP port on loopback that nothing listens on right now, and that this process has not handed
 * out before. The port is released before it is returned, so the kernel may give it to the next
 * caller too: the stack plans the emulators' ports while the functions pick theirs, and the one
 * that binds second would fail (or, worse, seem to serve where the other answers).
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await anyFreePort();
    if (issued.has(port)) continue;
    issued.add(port);
    return port;
  }
}

function anyFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * The CPU time process `pid` has used so far (user + system, in ms), from /proc/<pid>/stat
 * (proc(5): fields 14 and 15, in clock ticks of 1/100 s, USER_HZ on Linux); `undefined` where
 * /proc cannot tell (not Linux, or the process is gone).
 */
export function cpuMillis(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return Number.isFinite(ticks) ? ticks * 10 : undefined;
}

/** The kernel's TCP socket tables (proc(5)): one line a socket, `st` 0A is LISTEN. */
const SOCKET_TABLES = ['/proc/net/tcp', '/proc/net/tcp6'];
const LISTEN = '0A';

/**
 * Whether process `pid` itself holds a socket listening on `port` (any address), read from
 * /proc: the sockets listening there, by inode, against the process's open descriptors. A
 * connection to the port proves only that somebody listens. `undefined` where /proc cannot tell
 * (not Linux); the caller then has only the connection to go by.
 */
export function listensOn(pid: number, port: number): boolean | undefined {
  let inodes: Set<string>;
  try {
    inodes = new Set(SOCKET_TABLES.flatMap((table) => listeningInodes(readFileSync(table, 'utf8'), port)));
  } catch {
    return undefined;
  }
  if (inodes.size === 0) return false;
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false; // gone
  }
  return fds.some((fd) => {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      return target.startsWith('socket:[') && inodes.has(target.slice(8, -1));
    } catch {
      return false; // closed since the listing
    }
  });
}

/** The inodes of the sockets listening on `port` in one of /proc/net's TCP tables. */
export function listeningInodes(table: string, port: number): string[] {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  return table
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length > 9 && f[1]!.endsWith(`:${hex}`) && f[3] === LISTEN)
    .map((f) => f[9]!);
}

/** Whether a TCP connection to `host` (`address:port`) is accepted: somebody listens there, not who. */
export function answersTcp(host: string): Promise<boolean> {
  const colon = host.lastIndexOf(':');
  return new Promise<boolean>((resolve) => {
    const socket = connect({ host: host.slice(0, colon), port: Number(host.slice(colon + 1)) }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
    socket.setTimeout(1000, () => {
      socket.destroy();
      resolve(false);
    });
  });
}
