import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { detectionSql, type VolumeTables } from '../../shared/adapters/bigquery-anomalies';
import { EmbeddedAnomalySource } from '../../shared/adapters/embedded-anomalies';
import { FileHourlySeriesStore } from '../../shared/adapters/file-hourly-series';
import { MemoryPublisher } from '../../shared/adapters/memory-publisher';
import { ConfigError, TransientError } from '../../shared/errors';
import type { AnomalySource, FlaggedHour } from '../../shared/ports';
import { Finding } from '../../shared/findings';
import { silentLogger } from '../../shared/log';
import { pushBody } from '../../shared/pubsub/push';
import { TOPICS } from '../../shared/topology';
import { VOLUME_DEFAULTS } from '../../shared/volume/detector';
import { HourlySeries } from '../../shared/volume/hourly';
import { placeholders } from '../../shared/volume/sql';
import { DEFAULT_MONITOR_CONFIG, volumeFindingId } from '../../functions/volume-monitor/core';
import { volumeMonitorHandler } from '../../functions/volume-monitor/handler';
import { register } from '../../functions/volume-monitor/index';
import { serveFunction } from '../support/harness';

/**
 * The real client runs in a plain Node process, as in a Cloud Function: under Jest's VM its
 * HTTP layer (teeny-request) cannot load node-fetch (a dynamic import of an ES module). This
 * child builds the adapter from the compiled code, asks one window, and prints what it got.
 */
const DIST = resolve(__dirname, '../../dist/shared/adapters/bigquery-anomalies.js');
const CHILD = `
const { BigQuery } = require('@google-cloud/bigquery');
const { BigQueryAnomalySource } = require(${JSON.stringify(DIST)});
const [endpoint, sql, from, to, location] = JSON.parse(process.argv[1]);
const source = new BigQueryAnomalySource(new BigQuery({ projectId: 'proj-1', apiEndpoint: endpoint }), sql, location ? { location } : {});
source.detect({ fromMs: from, toMs: to }).then(
  (hours) => process.stdout.write(JSON.stringify({ hours })),
  (err) => process.stdout.write(JSON.stringify({ error: { name: err.name, code: err.code, message: err.message } })),
);`;

function detectInChild(endpoint: string, sql: string, fromMs: number, toMs: number, location?: string): Promise<{ hours?: FlaggedHour[]; error?: { name: string; code: string; message: string } }> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      process.execPath,
      ['-e', CHILD, JSON.stringify([endpoint, sql, fromMs, toMs, location ?? null])],
      { cwd: resolve(__dirname, '../..'), env: { ...process.env, METADATA_SERVER_DETECTION: 'none', GOOGLE_CLOUD_PROJECT: 'proj-1' }, timeout: 30_000 },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolvePromise(JSON.parse(stdout))),
    );
  });
}

const TABLES: VolumeTables = { project: 'proj-1', dataset: 'recovery', model: 'volume_model', view: 'volume_hourly_series', anomaliesTable: 'volume_anomalies' };
const SETTINGS = { anomalyProbThreshold: 0.9995, minRelativeChange: 0.5, minAbsoluteChange: 8 };
const HOUR = 3_600_000;
const micros = (iso: string) => `${Date.parse(iso) * 1000}`;

interface Recorded {
  method: string;
  path: string;
  body: Record<string, unknown> | undefined;
}

/** A local HTTP server answering jobs.query and getQueryResults as BigQuery does (REST v2). */
async function fakeBigQuery(answers: Array<(req: Recorded) => { status: number; body: unknown }>) {
  const requests: Recorded[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString('utf8')));
    req.on('end', () => {
      const recorded = { method: req.method!, path: req.url!, body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
      requests.push(recorded);
      const answer = answers[requests.length - 1];
      const { status, body } = answer ? answer(recorded) : { status: 500, body: { error: { code: 500, message: 'unexpected request' } } };
      res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
      res.end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, requests, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const JOB = { projectId: 'proj-1', jobId: 'job_volume_1', location: 'EU' };
const SCHEMA = {
  fields: [
    { name: 'series', type: 'STRING', mode: 'NULLABLE' },
    { name: 'hour', type: 'TIMESTAMP', mode: 'NULLABLE' },
    { name: 'expected', type: 'FLOAT', mode: 'NULLABLE' },
    { name: 'actual', type: 'FLOAT', mode: 'NULLABLE' },
    { name: 'lower_bound', type: 'FLOAT', mode: 'NULLABLE' },
    { name: 'upper_bound', type: 'FLOAT', mode: 'NULLABLE' },
    { name: 'probability', type: 'FLOAT', mode: 'NULLABLE' },
  ],
};
const ROWS = [
  { f: [{ v: 'sale.recorded' }, { v: micros('2026-03-12T12:00:00Z') }, { v: '56.5' }, { v: '2' }, { v: '30.25' }, { v: '82.75' }, { v: '0.99993' }] },
  { f: [{ v: 'scan_to_crm' }, { v: micros('2026-03-12T13:00:00Z') }, { v: '0.86' }, { v: '0.18' }, { v: '0.62' }, { v: '1.1' }, { v: null }] },
];
const notDone = () => ({ status: 200, body: { kind: 'bigquery#queryResponse', jobReference: JOB, jobComplete: false } });
const done = () => ({
  status: 200,
  body: { kind: 'bigquery#getQueryResultsResponse', jobReference: JOB, jobComplete: true, totalRows: '2', schema: SCHEMA, rows: ROWS, cacheHit: false },
});

describe('the volume SQL', () => {
  it('is the detection script with every name filled in and the window left as parameters', () => {
    const sql = detectionSql(TABLES, SETTINGS);
    expect(placeholders(sql)).toEqual([]);
    expect(sql).toContain('MERGE `proj-1.recovery.volume_anomalies`');
    expect(sql).toContain('ML.DETECT_ANOMALIES(\n    MODEL `proj-1.recovery.volume_model`');
    expect(sql).toContain('STRUCT(0.9995 AS anomaly_prob_threshold)');
    expect(sql).toContain('FROM `proj-1.recovery.volume_hourly_series`');
    expect(sql.match(/@from_hour/g)).toHaveLength(3);
    expect(sql.match(/@to_hour/g)).toHaveLength(3);
  });
});

describe('BigQueryAnomalySource with @google-cloud/bigquery against a local BigQuery', () => {
  it('sends one jobs.query with the script and named TIMESTAMP parameters, polls an unfinished job, and reads {f:[{v}]} rows by schema', async () => {
    const bq = await fakeBigQuery([notDone, done]);
    try {
      const from = Date.parse('2026-03-12T11:00:00Z');
      const { hours } = await detectInChild(bq.url, detectionSql(TABLES, SETTINGS), from, from + 3 * HOUR, 'EU');
      expect(bq.requests.map((r) => `${r.method} ${r.path.split('?')[0]}`)).toEqual([
        'POST /bigquery/v2/projects/proj-1/queries',
        'GET /bigquery/v2/projects/proj-1/queries/job_volume_1',
      ]);
      const body = bq.requests[0]!.body!;
      expect(body).toMatchObject({ query: detectionSql(TABLES, SETTINGS), useLegacySql: false, parameterMode: 'named', location: 'EU' });
      expect(body.queryParameters).toEqual(
        expect.arrayContaining([
          { name: 'from_hour', parameterType: { type: 'TIMESTAMP' }, parameterValue: { value: '2026-03-12T11:00:00.000Z' } },
          { name: 'to_hour', parameterType: { type: 'TIMESTAMP' }, parameterValue: { value: '2026-03-12T14:00:00.000Z' } },
        ]),
      );
      expect(bq.requests[1]!.path).toContain('location=EU');
      expect(hours).toEqual([
        { series: 'sale.recorded', hourMs: Date.parse('2026-03-12T12:00:00Z'), expected: 56.5, actual: 2, lowerBound: 30.25, upperBound: 82.75, probability: 0.99993 },
        { series: 'scan_to_crm', hourMs: Date.parse('2026-03-12T13:00:00Z'), expected: 0.86, actual: 0.18, lowerBound: 0.62, upperBound: 1.1 },
      ]);
    } finally {
      await bq.close();
    }
  });

  it('turns an error answer into a TransientError that carries BigQuery\'s message', async () => {
    const bq = await fakeBigQuery([
      () => ({
        status: 404,
        body: {
          error: {
            code: 404,
            message: 'Not found: Model proj-1:recovery.volume_model',
            errors: [{ message: 'Not found: Model proj-1:recovery.volume_model', domain: 'global', reason: 'notFound' }],
            status: 'NOT_FOUND',
          },
        },
      }),
    ]);
    try {
      const { error } = await detectInChild(bq.url, detectionSql(TABLES, SETTINGS), 0, HOUR);
      expect(error).toEqual({ name: 'TransientError', code: 'bigquery_404', message: expect.stringContaining('Not found: Model proj-1:recovery.volume_model') });
      expect(bq.requests).toHaveLength(1);
    } finally {
      await bq.close();
    }
  });
});

/** The adapter's port, answering what the model flagged (the adapter itself is held to the wire above). */
class FlaggedHours implements AnomalySource {
  readonly basis = 'the ARIMA_PLUS forecast';
  readonly windows: { fromMs: number; toMs: number }[] = [];
  constructor(
    private readonly hours: FlaggedHour[],
    private readonly failure?: Error,
  ) {}
  async detect(window: { fromMs: number; toMs: number }): Promise<FlaggedHour[]> {
    this.windows.push(window);
    if (this.failure) throw this.failure;
    return this.hours;
  }
}

const FLAGGED: FlaggedHour[] = [
  { series: 'sale.recorded', hourMs: Date.parse('2026-03-12T12:00:00Z'), expected: 56.5, actual: 2, lowerBound: 30.25, upperBound: 82.75, probability: 0.99993 },
  { series: 'scan_to_crm', hourMs: Date.parse('2026-03-12T13:00:00Z'), expected: 0.86, actual: 0.18, lowerBound: 0.62, upperBound: 1.1 },
];

let servers = 0;
async function serveMonitor(source: AnomalySource, startMs: number) {
  const publisher = new MemoryPublisher();
  const clock = { ms: startMs };
  const handler = volumeMonitorHandler({ source, publisher, clock: { now: () => clock.ms }, config: DEFAULT_MONITOR_CONFIG, logger: silentLogger });
  const server = await serveFunction(`volume-monitor-contract-${servers++}`, handler as never);
  let ids = 0;
  const tick = async () => {
    const body = pushBody(JSON.stringify({ scheduled_at: new Date(clock.ms).toISOString() }), {}, `t-${++ids}`, 'projects/p/subscriptions/volume-monitor-ticks');
    const res = await fetch(`${server.url}/projects/p/topics/${TOPICS.ticks}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return res.status;
  };
  return { publisher, clock, tick, close: server.close };
}

describe('volume-monitor over HTTP with the raw Pub/Sub push body of a tick', () => {
  // The first tick after 12:00-13:00 closed: 13:00 + grace + allowed lateness.
  const firstTick = Date.parse('2026-03-12T13:00:00Z') + DEFAULT_MONITOR_CONFIG.graceMs + DEFAULT_MONITOR_CONFIG.allowedLatenessMs + 20_000;

  it('asks once per closed hour about the last hours, publishes one finding per flagged hour under ids derived from series and hour', async () => {
    const source = new FlaggedHours(FLAGGED);
    const m = await serveMonitor(source, firstTick);
    try {
      expect(await m.tick()).toBe(204);
      expect(source.windows).toEqual([{ fromMs: Date.parse('2026-03-12T10:00:00Z'), toMs: Date.parse('2026-03-12T13:00:00Z') }]);
      const findings = m.publisher.json(TOPICS.findings).map((f) => Finding.parse(f));
      expect(findings).toEqual([
        expect.objectContaining({ kind: 'volume_anomaly', action: 'reported', series: 'sale.recorded', hour: '2026-03-12T12:00:00Z', expected: 56.5, actual: 2, lower_bound: 30.25, upper_bound: 82.75, probability: 0.99993 }),
        expect.objectContaining({ kind: 'volume_anomaly', series: 'scan_to_crm', hour: '2026-03-12T13:00:00Z', actual: 0.18 }),
      ]);
      expect(findings[1]).not.toHaveProperty('probability');
      const firstIds = m.publisher.messages.map((msg) => msg.attributes!.finding_id);
      expect(firstIds).toEqual(findings.map((f) => (f.kind === 'volume_anomaly' ? volumeFindingId(f) : '')));
      expect(m.publisher.messages[0]!.attributes).toMatchObject({ kind: 'volume_anomaly', action: 'reported' });

      // Later ticks in the same hour ask nothing.
      m.clock.ms += 5 * 60_000;
      expect(await m.tick()).toBe(204);
      expect(source.windows).toHaveLength(1);

      // The next hour's first tick asks again; the same flagged hours come back under the same ids.
      m.clock.ms += HOUR - 5 * 60_000;
      expect(await m.tick()).toBe(204);
      expect(source.windows).toHaveLength(2);
      expect(source.windows[1]).toEqual({ fromMs: Date.parse('2026-03-12T11:00:00Z'), toMs: Date.parse('2026-03-12T14:00:00Z') });
      expect(m.publisher.messages.slice(2).map((msg) => msg.attributes!.finding_id)).toEqual(firstIds);
    } finally {
      await m.close();
    }
  });

  it('answers 500 when BigQuery fails, so Pub/Sub redelivers the tick', async () => {
    const source = new FlaggedHours([], new TransientError('BigQuery volume detection failed: Syntax error', 'bigquery_400'));
    const m = await serveMonitor(source, firstTick);
    try {
      expect(await m.tick()).toBe(500);
      expect(m.publisher.messages).toEqual([]);
    } finally {
      await m.close();
    }
  });
});

describe('volume-monitor over HTTP with the embedded detector over the local hourly series (the local stack\'s adapter)', () => {
  // Five weekdays of discounts, 6 an hour, and on Friday 12:00-13:00 a storm of 40; the store is the file the local stack writes.
  const dir = mkdtempSync(join(tmpdir(), 'volume-monitor-local-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const monday = Date.parse('2026-03-09T00:00:00Z');
  const storm = Date.parse('2026-03-13T12:00:00Z');
  const series = new HourlySeries();
  for (let h = 0; h < 4 * 24 + 14; h++) {
    const hourMs = monday + h * HOUR;
    const n = hourMs === storm ? 40 : 6;
    for (let k = 0; k < n; k++) series.add('discount.issued', hourMs + Math.floor((k / n) * HOUR));
  }
  const firstTick = Date.parse('2026-03-13T13:00:00Z') + DEFAULT_MONITOR_CONFIG.graceMs + DEFAULT_MONITOR_CONFIG.allowedLatenessMs + 20_000;

  it('publishes the storm hour as a volume_anomaly worded as replay words it, under the id replay\'s finding would have', async () => {
    const path = join(dir, 'volume-hourly-series.json');
    writeFileSync(path, JSON.stringify({ hours: series.rows() }));
    const m = await serveMonitor(new EmbeddedAnomalySource(new FileHourlySeriesStore(path)), firstTick);
    try {
      expect(await m.tick()).toBe(204);
      const findings = m.publisher.json(TOPICS.findings).map((f) => Finding.parse(f));
      expect(findings).toEqual([
        {
          kind: 'volume_anomaly',
          action: 'reported',
          series: 'discount.issued',
          hour: '2026-03-13T12:00:00Z',
          expected: 6,
          actual: 40,
          lower_bound: expect.any(Number) as number,
          upper_bound: expect.any(Number) as number,
          reason: expect.stringMatching(/^40 discount\.issued events in the hour from 2026-03-13T12:00:00Z: above the expected range 0\.\.\d+(\.\d+)? \(the seasonal baseline: 6\)$/) as string,
        },
      ]);
      const f = findings[0]!;
      if (f.kind !== 'volume_anomaly') throw new Error('not a volume anomaly');
      expect(f.upper_bound).toBeLessThan(40);
      expect(m.publisher.messages[0]!.attributes).toMatchObject({ kind: 'volume_anomaly', action: 'reported', finding_id: volumeFindingId(f) });
    } finally {
      await m.close();
    }
  });

  it('answers 500 while the local stack has not written the series yet, so the tick is redelivered', async () => {
    const m = await serveMonitor(new EmbeddedAnomalySource(new FileHourlySeriesStore(join(dir, 'not-yet.json'))), firstTick);
    try {
      expect(await m.tick()).toBe(500);
      expect(m.publisher.messages).toEqual([]);
    } finally {
      await m.close();
    }
  });
});

describe('volume-monitor\'s composition root picks its adapter from the environment', () => {
  const base = { GOOGLE_CLOUD_PROJECT: 'proj-1', METADATA_SERVER_DETECTION: 'none' };
  it('refuses both adapters at once with a clear ConfigError', () => {
    expect(() => register({ ...base, VOLUME_DATASET: 'recovery', VOLUME_SERIES_FILE: '/tmp/series.json' })).toThrow(ConfigError);
    expect(() => register({ ...base, VOLUME_DATASET: 'recovery', VOLUME_SERIES_FILE: '/tmp/series.json' })).toThrow(/both set: set one/);
  });
  it('says what is wrong with the local settings', () => {
    expect(() => register({ ...base, VOLUME_SERIES_FILE: '/tmp/series.json', TICK_INTERVAL_MINUTES: '-1' })).toThrow(/TICK_INTERVAL_MINUTES/);
  });
});

describe('settings shared with Terraform', () => {
  it('come from shared/volume/defaults.json', () => {
    expect(VOLUME_DEFAULTS).toMatchObject({ min_scans: 20, training_days: 28 });
  });
});
