import { createServer, type Server } from 'node:net';
import { get } from 'node:http';
import { EmulatorUnavailableError, startEmulator } from '../../tools/local/emulators';
import { freePort } from '../../tools/local/ports';

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
