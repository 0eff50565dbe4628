# Volume anomalies in GCP (DESIGN §3): an hourly-series view over the archive of accepted
# events, an ARIMA_PLUS model over it created at apply and retrained daily on the last 28 days
# without the hours already flagged, and the table of flagged hours that volume-monitor keeps.
# The SQL is in shared/volume/sql/*.sql and the shared settings in shared/volume/defaults.json,
# read here and by the code: nothing of it is written twice.

locals {
  shared   = "${path.module}/../../../shared/volume"
  settings = jsondecode(file("${local.shared}/defaults.json"))

  hourly_series_sql = templatefile("${local.shared}/sql/hourly_series.sql", {
    project           = var.project_id
    dataset           = var.dataset_id
    archive_table     = var.archive_table
    min_scans         = local.settings.min_scans
    archive_scan_days = local.settings.archive_scan_days
  })

  train_model_sql = templatefile("${local.shared}/sql/train_model.sql", {
    project         = var.project_id
    dataset         = var.dataset_id
    model           = var.model_name
    view            = var.view_name
    anomalies_table = var.anomalies_table
    training_days   = local.settings.training_days
  })
}

resource "google_bigquery_table" "hourly_series" {
  project             = var.project_id
  dataset_id          = var.dataset_id
  table_id            = var.view_name
  description         = "Hourly series of accepted events per type, and scan_to_crm (shared/volume/sql/hourly_series.sql)."
  labels              = var.labels
  deletion_protection = false

  view {
    query          = local.hourly_series_sql
    use_legacy_sql = false
  }
}

resource "google_bigquery_table" "anomalies" {
  project             = var.project_id
  dataset_id          = var.dataset_id
  table_id            = var.anomalies_table
  description         = "Hours the volume model flagged, one row per (series, hour): published as findings, left out of retraining."
  labels              = var.labels
  deletion_protection = var.deletion_protection

  time_partitioning {
    type  = "DAY"
    field = "hour"
  }

  schema = jsonencode([
    { name = "series", type = "STRING", mode = "REQUIRED", description = "An event type, or scan_to_crm." },
    { name = "hour", type = "TIMESTAMP", mode = "REQUIRED", description = "The hour's start, UTC." },
    { name = "expected", type = "FLOAT64", mode = "NULLABLE", description = "The middle of the model's interval." },
    { name = "actual", type = "FLOAT64", mode = "NULLABLE", description = "The hour's value." },
    { name = "lower_bound", type = "FLOAT64", mode = "NULLABLE", description = "The model's lower bound." },
    { name = "upper_bound", type = "FLOAT64", mode = "NULLABLE", description = "The model's upper bound." },
    { name = "probability", type = "FLOAT64", mode = "NULLABLE", description = "The model's anomaly probability." },
    { name = "flagged_at", type = "TIMESTAMP", mode = "NULLABLE", description = "When volume-monitor recorded it." },
  ])
}

# What makes the model job run again: a changed model definition.
resource "terraform_data" "model_sql" {
  count = var.train_on_apply ? 1 : 0
  input = sha256(local.train_model_sql)
}

# The first model, at apply. ML DDL takes no create or write disposition: both are set empty.
# Job ids are unique per project and a job is immutable, so the id is new for every attempt:
# the plan's time, kept while the SQL is unchanged (ignore_changes), and new when the SQL changes
# (replace_triggered_by) or when a failed job is replaced on the next apply. (An id that followed
# the SQL alone made a failed job block every later apply.)
resource "google_bigquery_job" "create_model" {
  count = var.train_on_apply ? 1 : 0

  project  = var.project_id
  location = var.location
  job_id   = "volume_model_${formatdate("YYYYMMDDhhmmss", plantimestamp())}"
  labels   = var.labels

  lifecycle {
    ignore_changes       = [job_id]
    replace_triggered_by = [terraform_data.model_sql]
  }

  query {
    query              = local.train_model_sql
    use_legacy_sql     = false
    create_disposition = ""
    write_disposition  = ""
  }

  depends_on = [google_bigquery_table.hourly_series, google_bigquery_table.anomalies]
}

# Daily retraining: the same CREATE OR REPLACE MODEL, as a scheduled query (no destination table).
resource "google_bigquery_data_transfer_config" "retrain" {
  project              = var.project_id
  location             = var.location
  display_name         = "event-recovery volume model retraining"
  data_source_id       = "scheduled_query"
  schedule             = var.retrain_schedule
  service_account_name = var.scheduled_query_service_account

  params = {
    query = local.train_model_sql
  }

  depends_on = [google_bigquery_table.hourly_series, google_bigquery_table.anomalies]
}
