import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { ensureBuilt } from '../support/build';

const ROOT = resolve(__dirname, '../..');

/**
 * The worker pool reads the input ahead of its consumer. A consumer that stops (Ctrl-C) while a
 * read is pending, and then destroys the input (what replay's abort does to standard input),
 * must not leave that read's rejection unhandled: it crashed the process with exit 1 and
 * `ERR_STREAM_PREMATURE_CLOSE` instead of replay's "interrupted" line and exit 130.
 * Run in a child process so that an unhandled rejection is the child's verdict, not jest's.
 */
describe('preparedBatches: stopping mid-input', () => {
  beforeAll(ensureBuilt);

  it('leaves no unhandled rejection when the input is destroyed after the consumer broke off', () => {
    const script = `
      const { PassThrough } = require('node:stream');
      const { once } = require('node:events');
      const { preparedBatches } = require('./dist/cli/replay/pool.js');
      const { readLineBatches } = require('./dist/cli/replay/lines.js');
      process.on('unhandledRejection', (e) => { console.log('unhandled: ' + (e && e.code)); process.exit(3); });
      (async () => {
        const input = new PassThrough();
        const line = JSON.stringify({ specversion: '1.0', id: 'e', source: '//a', type: 'card.scanned', time: '2026-03-01T10:00:00Z', data: { card_id: 'c', scanned_by: 'u', contact: {} } });
        // Several chunks already waiting: the pool has two batches in flight and a read pending.
        for (let i = 0; i < 5; i++) input.write(Array(100).fill(line).join('\\n') + '\\n');
        let lines = 0;
        for await (const batch of preparedBatches(readLineBatches(input), 1, { now: Date.parse('2026-03-01T12:00:00Z'), config: { maxFutureMs: 300000 } })) {
          lines += batch.lines.length;
          // Stop while a read is pending: once the input has closed (a condition, not a timer),
          // that read has failed; one turn of the event loop lets an unhandled rejection surface.
          const closed = once(input, 'close');
          input.destroy();
          await closed;
          await new Promise((r) => setImmediate(r));
          break;
        }
        console.log('stopped after ' + lines);
      })();
    `;
    const r = spawnSync(process.execPath, ['-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    // How the chunks fall into batches is the stream's business: some whole lines were prepared.
    expect({ code: r.status, stdout: r.stdout.trim() }).toEqual({ code: 0, stdout: expect.stringMatching(/^stopped after [1-9]\d*00$/) });
  });
});
