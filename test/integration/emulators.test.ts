import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { get } from 'node:http';
import { EMULATOR_JVM_OPTIONS, EmulatorUnavailableError, jvmOptions, startEmulator } from '../../tools/local/emulators';
import { freePort } from '../../tools/local/ports';
import { processesOf } from '../support/processes';

/**
 * Issue 13 item 7: a free port picked for an emulator can be taken by another starting process
 * before the emulator binds it (java.net.BindException: Address already in use). Reproduced here
 * by holding the first picked port: the emulator must come up on a fresh one.
 */
function occupy(): Promise<{ port: number; server: Server }> {
  return new Promise((resolve) => {
    const server = createServer((s) => s.destroy());
    server.listen(0, '127.0.0.1', () => resolve({ port: (server.address() as { port: number }).port, server }));
  });
}

function answers(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    get(`http://${host}/`, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
}

describe('an emulator that loses its port before it binds it', () => {
  it.each(['pubsub', 'firestore'] as const)('%s starts again on a fresh port', async (name) => {
    const taken = await occupy();
    const picks: number[] = [];
    const retried: number[] = [];
    try {
      const emulator = await startEmulator(name, {
        pickPort: async () => {
          const port = picks.length === 0 ? taken.port : await freePort();
          picks.push(port);
          return port;
        },
        onBindRetry: (port) => retried.push(port),
      });
      try {
        expect(retried).toEqual([taken.port]);
        expect(picks).toHaveLength(2);
        expect(emulator.host).toBe(`127.0.0.1:${picks[1]}`);
        expect(await answers(emulator.host)).toBeLessThan(500);
      } finally {
        await emulator.stop();
      }
    } finally {
      taken.server.close();
    }
  }, 120_000);

  it('fails at once with a clear error when the caller fixed a port that is taken', async () => {
    const taken = await occupy();
    try {
      const error = await startEmulator('pubsub', { port: taken.port }).catch((err: unknown) => err);
      expect(error).toBeInstanceOf(EmulatorUnavailableError);
      expect((error as Error).message).toContain(`could not bind 127.0.0.1:${taken.port}`);
      // (Before, the Pub/Sub emulator kept running without serving until the start timed out: "not ready after 60000 ms".)
    } finally {
      taken.server.close();
    }
  }, 120_000);
});

/** The environment of each Java process in process group `group` (an emulator's CLI and what it spawned). */
function javaEnvironments(group: number): Array<Map<string, string>> {
  return processesOf('java').flatMap(({ pid }) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) !== group) return [];
      const entries = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);
      return [new Map(entries.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]))];
    } catch {
      return []; // gone meanwhile
    }
  });
}

describe("the emulators' JVMs", () => {
  it.each(['pubsub', 'firestore'] as const)('%s runs with the quick compiler and the serial collector', async (name) => {
    const emulator = await startEmulator(name);
    try {
      const javas = javaEnvironments(emulator.pid);
      expect(javas).toHaveLength(1);
      expect(javas[0]!.get('JAVA_TOOL_OPTIONS')).toBe(jvmOptions(process.env));
      expect(javas[0]!.get('JAVA_TOOL_OPTIONS')).toContain(EMULATOR_JVM_OPTIONS);
    } finally {
      await emulator.stop();
    }
  }, 120_000);

  it("keeps a user's own JAVA_TOOL_OPTIONS, after these, so that theirs win", () => {
    expect(jvmOptions({})).toBe('-XX:TieredStopAtLevel=1 -XX:+UseSerialGC');
    expect(jvmOptions({ JAVA_TOOL_OPTIONS: ' -Xmx2g ' })).toBe('-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xmx2g');
    expect(jvmOptions({ JAVA_TOOL_OPTIONS: '' })).toBe('-XX:TieredStopAtLevel=1 -XX:+UseSerialGC');
  });
});
