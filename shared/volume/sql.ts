/**
 * The SQL of the GCP half lives in shared/volume/sql/*.sql, read by Terraform (`templatefile`)
 * and by the code alike; placeholders are Terraform's `${name}`. This renders one for the code.
 */
export const SQL_FILES = {
  hourlySeries: 'hourly_series.sql',
  trainModel: 'train_model.sql',
  detectAnomalies: 'detect_anomalies.sql',
} as const;

const PLACEHOLDER = /\$\{([a-z_]+)\}/g;

/** The placeholder names a SQL text uses, sorted. */
export function placeholders(sql: string): string[] {
  return [...new Set([...sql.matchAll(PLACEHOLDER)].map((m) => m[1]!))].sort();
}

/** Fills every placeholder; a name without a value is a bug, not an empty string. */
export function renderSql(sql: string, values: Readonly<Record<string, string | number>>): string {
  return sql.replace(PLACEHOLDER, (_all, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`SQL placeholder \${${name}} has no value`);
    return String(value);
  });
}
