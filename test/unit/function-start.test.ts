import { spawn } from 'node:child_process';
import { waitForListener, type StartBudget } from '../../tools/local/functions';
import { freePort } from '../../tools/local/ports';

/** waitForListener on a node process running `script(port)` (a free port), stopped afterwards. */
async function waitOn(script: (port: number) => string, budget: StartBudget): Promise<void> {
  const port = await freePort();
  const p = spawn(process.execPath, ['-e', script(port)], { stdio: 'ignore' });
  let exited = false;
  p.on('exit', () => (exited = true));
  try {
    await waitForListener(p.pid!, port, budget, () => exited);
  } finally {
    p.kill('SIGKILL');
  }
}

/**
 * How the local stack waits for a starting function: by its progress, not a fixed time. Two
 * stacks starting at once on 2 cores (the fault suite) took over 20 s of wall time to load a
 * function that loads in 2 s alone, and the fixed 20 s wait failed both runs.
 */
describe('waiting for a starting function to listen', () => {
  it('waits for a process that is slow to listen without spending CPU (a loaded machine): longer than its CPU budget in wall time', async () => {
    await expect(waitOn((port) => `setTimeout(() => require('node:net').createServer().listen(${port}, '127.0.0.1'), 1500)`, { cpuMs: 1000, wallMs: 60_000 })).resolves.toBeUndefined();
  });

  it('gives up on a process that spends its CPU budget without listening, and says so', async () => {
    await expect(waitOn(() => 'for (;;) {}', { cpuMs: 300, wallMs: 60_000 })).rejects.toThrow(/does not listen on port \d+ after \d+\.\d s of CPU time/);
  });

  it('gives up on an idle process at its wall-clock budget', async () => {
    await expect(waitOn(() => 'setInterval(() => undefined, 1000)', { cpuMs: 60_000, wallMs: 500 })).rejects.toThrow(/does not listen on port \d+ after 500 ms/);
  });
});
