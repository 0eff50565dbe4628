/**
 * The runtime half of the deploy rehearsal: a function started from the built archive as Cloud
 * Run starts it, with exactly the variables Terraform gives it (tools/infra/rehearsal.ts reads
 * their names from the HCL) plus what the platform provides, and stand-ins for the endpoints it
 * reaches (the emulators, a local BigQuery, the local stand-ins of the external APIs).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { freePort } from '../../tools/local/ports';
import { RehearsalError, type DeployedFunction } from '../../tools/infra/rehearsal';

export interface StartedFunction {
  readonly name: string;
  readonly url: string;
  output(): string;
  stop(): Promise<void>;
}

/**
 * What Cloud Run and the functions buildpack set in every instance: the Cloud Run container
 * contract's PORT, K_SERVICE, K_REVISION, K_CONFIGURATION
 * (https://cloud.google.com/run/docs/container-contract#env-vars), FUNCTION_TARGET (the entry
 * point) and the buildpack's NODE_ENV=production. Nothing else reaches the process from the
 * platform: no GOOGLE_CLOUD_PROJECT (the google clients would ask the metadata server, which the
 * rehearsal does not stand in for; Terraform sets it).
 */
export function platformEnv(serviceName: string, entryPoint: string, port: number): Record<string, string> {
  return { PORT: String(port), K_SERVICE: serviceName, K_REVISION: `${serviceName}-00001-abc`, K_CONFIGURATION: serviceName, FUNCTION_TARGET: entryPoint, NODE_ENV: 'production' };
}

/**
 * Starts `fn` from `dir` (the built archive) with the Functions Framework the build installed,
 * as the buildpack's launcher does, and waits until it accepts connections. Rejects, with its
 * output, when it exits first (a start-up failure: an unregistered target, a bad configuration).
 */
export async function startDeployed(dir: string, fn: DeployedFunction, env: Record<string, string>, serviceName: string): Promise<StartedFunction> {
  const port = await freePort();
  const main = join(dir, 'node_modules', '@google-cloud', 'functions-framework', 'build', 'src', 'main.js');
  const child: ChildProcess = spawn(process.execPath, [main, `--target=${fn.entryPoint}`], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', ...env, ...platformEnv(serviceName, fn.entryPoint, port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString('utf8')));
  let exited: string | undefined;
  const exit = new Promise<void>((resolve) => child.on('exit', (code, signal) => ((exited = signal ?? `exit ${code}`), resolve())));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) throw new RehearsalError(`start ${fn.name}`, `the instance ended (${exited}) before serving`, output);
    if (await accepts(port)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new RehearsalError(`start ${fn.name}`, 'not serving after 60 s', output);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    name: fn.name,
    url: `http://127.0.0.1:${port}`,
    output: () => output,
    stop: async () => {
      if (!exited) {
        child.kill('SIGTERM');
        await exit;
      }
    },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

/**
 * A local BigQuery for volume-monitor (BIGQUERY_EMULATOR_HOST, which @google-cloud/bigquery
 * reads): every jobs.query answers complete, with one flagged hour in the detection's schema,
 * as the REST API words it (rows as {f: [{v}]}, TIMESTAMP as microseconds in a string).
 */
export async function localBigQuery(flaggedHourMs: () => number): Promise<{ host: string; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      requests.push(`${req.method} ${req.url?.split('?')[0]}`);
      const project = /\/projects\/([^/]+)\//.exec(req.url ?? '')?.[1] ?? 'p';
      const hour = flaggedHourMs();
      res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
      res.end(
        JSON.stringify({
          kind: 'bigquery#queryResponse',
          jobReference: { projectId: project, jobId: `job_${requests.length}`, location: 'EU' },
          jobComplete: true,
          totalRows: '1',
          schema: {
            fields: ['series', 'hour', 'expected', 'actual', 'lower_bound', 'upper_bound', 'probability'].map((name, i) => ({ name, type: i === 0 ? 'STRING' : i === 1 ? 'TIMESTAMP' : 'FLOAT', mode: 'NULLABLE' })),
          },
          rows: [{ f: [{ v: 'card.scanned' }, { v: `${hour * 1000}` }, { v: '120' }, { v: '3' }, { v: '90' }, { v: '150' }, { v: '0.99999' }] }],
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { host: `http://127.0.0.1:${port}/bigquery/v2`, requests, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
