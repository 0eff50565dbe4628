import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from '@cdktf/hcl2json';
import { placeholders } from '../../shared/volume/sql';
import { topology } from '../../shared/topology';

const ROOT = resolve(__dirname, '../..');
const MODULE = join(ROOT, 'infra/modules/bigquery');
const SQL = readFileSync(join(ROOT, 'shared/archive/sql/once.sql'), 'utf8');

type Hcl = Record<string, unknown>;

describe('the archives, each event and finding once (issue 19)', () => {
  it('Terraform makes one view per archive table from shared/archive/sql/once.sql, with exactly the placeholders it uses', async () => {
    const main = (await parse('main.tf', readFileSync(join(MODULE, 'main.tf'), 'utf8'))) as Hcl;
    const tables = (main.resource as Record<string, Record<string, Array<Record<string, unknown>>>>).google_bigquery_table!;
    const once = tables.once![0]!;
    expect(once.for_each).toBe('${var.tables}');
    expect(once.table_id).toBe('${each.key}_once');
    const view = (once.view as Array<{ query: string; use_legacy_sql: boolean }>)[0]!;
    expect(view.use_legacy_sql).toBe(false);
    const m = /templatefile\("\$\{path\.module\}\/\.\.\/\.\.\/\.\.\/shared\/archive\/sql\/once\.sql", \{([\s\S]*)\}\)/.exec(view.query);
    expect(m).not.toBeNull();
    expect([...m![1]!.matchAll(/^\s*([a-z_]+)\s*=/gm)].map((v) => v[1]!).sort()).toEqual(placeholders(SQL));
    // Every BigQuery subscription of the manifest writes one of those tables.
    expect(topology.subscriptions.filter((s) => s.bigquery).length).toBeGreaterThan(0);
  });

  it('keeps the first published row per finding id, else event id, else message id', () => {
    const body = SQL.split('\n')
      .filter((l) => !l.startsWith('--'))
      .join('\n');
    expect(body).toMatch(/PARTITION BY COALESCE\(JSON_VALUE\(attributes, '\$\.finding_id'\), JSON_VALUE\(data, '\$\.id'\), message_id\)/);
    expect(body).toMatch(/ORDER BY publish_time, message_id/);
    expect(body).toMatch(/WHERE copy = 1/);
  });
});
