import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from '@cdktf/hcl2json';
import { readSql, sqlDir } from '../../shared/adapters/bigquery-anomalies';
import defaults from '../../shared/volume/defaults.json';
import { placeholders, renderSql, SQL_FILES } from '../../shared/volume/sql';

const ROOT = resolve(__dirname, '../..');
const MODULE = join(ROOT, 'infra/modules/volume-anomalies');

type Hcl = Record<string, unknown>;
async function hcl(file: string): Promise<Hcl> {
  return (await parse(file, readFileSync(join(MODULE, file), 'utf8'))) as Hcl;
}

/** `templatefile("${local.shared}/sql/X.sql", { a = ..., b = ... })` → X.sql and [a, b]. */
function templatefileCall(expression: string): { file: string; vars: string[] } {
  const m = /templatefile\("\$\{local\.shared\}\/sql\/([a-z_]+\.sql)", \{([\s\S]*)\}\)/.exec(expression);
  if (!m) throw new Error(`not a templatefile of shared/volume/sql: ${expression}`);
  return { file: m[1]!, vars: [...m[2]!.matchAll(/^\s*([a-z_]+)\s*=/gm)].map((v) => v[1]!).sort() };
}

describe('the volume SQL files, shared by Terraform and the code', () => {
  it('are where both look for them', () => {
    expect(sqlDir()).toBe(join(ROOT, 'shared/volume/sql'));
    for (const file of Object.values(SQL_FILES)) expect(existsSync(join(sqlDir(), file))).toBe(true);
  });

  it('get from Terraform exactly the placeholders they use', async () => {
    const main = await hcl('main.tf');
    const locals = Object.assign({}, ...(main.locals as Hcl[])) as Record<string, string>;
    expect(locals.shared).toBe('${path.module}/../../../shared/volume');
    expect(existsSync(join(MODULE, '../../../shared/volume/defaults.json'))).toBe(true);
    const calls = [locals.hourly_series_sql!, locals.train_model_sql!].map(templatefileCall);
    expect(calls.map((c) => c.file)).toEqual([SQL_FILES.hourlySeries, SQL_FILES.trainModel]);
    for (const { file, vars } of calls) expect(vars).toEqual(placeholders(readSql(file)));
    // Every setting Terraform reads exists in the shared settings.
    const text = readFileSync(join(MODULE, 'main.tf'), 'utf8');
    for (const [, key] of text.matchAll(/local\.settings\.([a-z_]+)/g)) expect(defaults).toHaveProperty(key!);
  });

  it('name the columns the model and the detection expect', () => {
    const view = readSql(SQL_FILES.hourlySeries);
    expect(view).toMatch(/SELECT series, hour, value FROM typed\s+UNION ALL\s+SELECT series, hour, value FROM ratio\s+UNION ALL\s+SELECT series, hour, value FROM revenue/);
    expect(view).toContain("'scan_to_crm' AS series");
    // revenue_usd: each sale's amount_usd once (archived twice, counted once), every hour from the first sale.
    expect(view).toContain("'revenue_usd' AS series");
    expect(view).toMatch(/SELECT hour, ANY_VALUE\(amount_usd\) AS amount_usd\s+FROM events\s+WHERE type = 'sale.recorded' AND hour IS NOT NULL\s+GROUP BY id, hour/);
    expect(readSql(SQL_FILES.detectAnomalies)).toContain("series IN ('scan_to_crm', 'revenue_usd') OR ABS(value - (lower_bound + upper_bound) / 2) >= ${min_absolute_change}");
    const train = renderSql(readSql(SQL_FILES.trainModel), {
      project: 'p',
      dataset: 'd',
      model: 'm',
      view: 'v',
      anomalies_table: 'a',
      training_days: defaults.training_days,
    });
    expect(train).toMatch(/^CREATE OR REPLACE MODEL `p\.d\.m`/m);
    for (const option of [
      "model_type = 'ARIMA_PLUS'",
      "time_series_timestamp_col = 'hour'",
      "time_series_data_col = 'value'",
      "time_series_id_col = 'series'",
      "data_frequency = 'HOURLY'",
      'clean_spikes_and_dips = TRUE',
      'adjust_step_changes = TRUE',
    ]) {
      expect(train).toContain(option);
    }
    expect(train).toContain('INTERVAL 28 DAY');
    expect(train).toMatch(/NOT EXISTS \(\s+SELECT 1\s+FROM `p\.d\.a` AS flagged/);
    const detect = readSql(SQL_FILES.detectAnomalies);
    expect(detect).toContain('ML.DETECT_ANOMALIES(');
    expect(detect).toContain('SELECT series, hour, value\n      FROM `${project}.${dataset}.${view}`');
    expect(placeholders(detect)).toEqual(['anomalies_table', 'anomaly_prob_threshold', 'dataset', 'min_absolute_change', 'min_relative_change', 'model', 'project', 'view']);
  });

  it('read only the partitions of the archive the model and the detection need', () => {
    const view = renderSql(readSql(SQL_FILES.hourlySeries), { project: 'p', dataset: 'd', archive_table: 'a', min_scans: 20, archive_scan_days: defaults.archive_scan_days });
    // The archive is partitioned on publish_time (infra/modules/bigquery): the filter is on it.
    expect(view).toMatch(/FROM `p\.d\.a`\s+WHERE publish_time >= TIMESTAMP_SUB\(TIMESTAMP_TRUNC\(CURRENT_TIMESTAMP\(\), DAY\), INTERVAL 29 DAY\)/);
    expect(readFileSync(join(ROOT, 'infra/modules/bigquery/main.tf'), 'utf8')).toMatch(/field\s+= "publish_time"/);
    // The training window, and a day for the clock skew the validator allows.
    expect(defaults.archive_scan_days).toBeGreaterThanOrEqual(defaults.training_days + 1);
  });

  it('separate the named subqueries of a WITH clause with commas (GoogleSQL: WITH name AS (...), name AS (...) SELECT)', () => {
    // The SQL runs only in GCP (no BigQuery emulator): a missing comma would fail every query of the view.
    for (const file of Object.values(SQL_FILES)) {
      const sql = readSql(file).replace(/--[^\n]*/g, '');
      const unseparated = [...sql.matchAll(/\)\s*\n\s*([a-z_]+) AS \(/g)].map((m) => m[1]);
      expect({ file, unseparated }).toEqual({ file, unseparated: [] });
    }
  });

  it('refuse a placeholder without a value', () => {
    expect(() => renderSql('SELECT ${missing}', {})).toThrow('SQL placeholder ${missing} has no value');
  });
});

describe('infra/modules/volume-anomalies', () => {
  it('creates the model with a google_bigquery_job of empty dispositions, and retrains it with a daily scheduled query of the same SQL', async () => {
    const main = await hcl('main.tf');
    const resources = main.resource as Record<string, Record<string, Hcl[]>>;
    const job = resources.google_bigquery_job!.create_model![0]!;
    const query = (job.query as Hcl[])[0]!;
    expect(query).toMatchObject({ query: '${local.train_model_sql}', use_legacy_sql: false, create_disposition: '', write_disposition: '' });
    // A new id per attempt (job ids are unique per project): a failed job must not block the next apply.
    expect(job.job_id).toContain('plantimestamp()');
    expect(job.lifecycle).toEqual([{ ignore_changes: ['${job_id}'], replace_triggered_by: ['${terraform_data.model_sql}'] }]);
    expect((resources.terraform_data!.model_sql![0]! as Hcl).input).toBe('${sha256(local.train_model_sql)}');
    const retrain = resources.google_bigquery_data_transfer_config!.retrain![0]!;
    expect(retrain).toMatchObject({ data_source_id: 'scheduled_query', schedule: '${var.retrain_schedule}', params: { query: '${local.train_model_sql}' } });
    const view = resources.google_bigquery_table!.hourly_series![0]!;
    expect((view.view as Hcl[])[0]).toMatchObject({ query: '${local.hourly_series_sql}', use_legacy_sql: false });
    const table = resources.google_bigquery_table!.anomalies![0]!;
    const columns = (JSON.parse(JSON.stringify(table.schema)) as string).match(/name = "([a-z_]+)"/g)!.map((c) => c.slice(8, -1));
    // The columns the detection script's MERGE writes and its SELECT reads.
    expect(columns).toEqual(['series', 'hour', 'expected', 'actual', 'lower_bound', 'upper_bound', 'probability', 'flagged_at']);
    expect(readSql(SQL_FILES.detectAnomalies)).toContain(`INSERT (${columns.join(', ')})`);
  });

  it('takes the dataset as a variable and pins the google provider to ~> 6.50', async () => {
    const variables = (await hcl('variables.tf')).variable as Record<string, Hcl[]>;
    expect(Object.keys(variables)).toEqual(expect.arrayContaining(['project_id', 'location', 'dataset_id', 'archive_table', 'train_on_apply']));
    for (const [name, [v]] of Object.entries(variables)) {
      expect([name, typeof v!.type, typeof v!.description]).toEqual([name, 'string', 'string']);
    }
    const versions = (await hcl('versions.tf')).terraform as Hcl[];
    expect(versions[0]!.required_providers).toEqual([{ google: { source: 'hashicorp/google', version: '~> 6.50' } }]);
  });
});
