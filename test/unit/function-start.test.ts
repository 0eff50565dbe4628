import { spawn } from 'node:child_process';
import { waitForListener } from '../../tools/local/functions';
import { freePort } from '../../tools/local/ports';

/** A node process running `script`, and whether it has exited. */
function child(script: string) {
  const p = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
  let exited = false;
  p.on('exit', () => (exited = true));
  return { pid: p.pid!, gone: () => exited, stop: () => void p.kill('SIGKILL') };
}

/**
 * How the local stack waits for a starting function: by its progress, not a fixed time. Two
 * stacks starting at once on 2 cores (the fault suite) took over 20 s of wall time to load a
 * function that loads in 2 s alone, and the fixed 20 s wait failed both runs.
 */
describe('waiting for a starting function to listen', () => {
  it('waits for a process that is slow to listen without spending CPU (a loaded machine): longer than its CPU budget in wall time', async () => {
    const port = await freePort();
    const c = child(`setTimeout(() => require('node:net').createServer().listen(${port}, '127.0.0.1'), 1500)`);
    try {
      await expect(waitForListener(c.pid, port, { cpuMs: 1000, wallMs: 60_000 }, c.gone)).resolves.toBeUndefined();
    } finally {
      c.stop();
    }
  });

  it('gives up on a process that spends its CPU budget without listening, and says so', async () => {
    const port = await freePort();
    const c = child('for (;;) {}');
    try {
      await expect(waitForListener(c.pid, port, { cpuMs: 300, wallMs: 60_000 }, c.gone)).rejects.toThrow(/does not listen on port \d+ after \d+\.\d s of CPU time/);
    } finally {
      c.stop();
    }
  });

  it('gives up on an idle process at its wall-clock budget', async () => {
    const port = await freePort();
    const c = child('setInterval(() => undefined, 1000)');
    try {
      await expect(waitForListener(c.pid, port, { cpuMs: 60_000, wallMs: 500 }, c.gone)).rejects.toThrow(/does not listen on port \d+ after 500 ms/);
    } finally {
      c.stop();
    }
  });
});
