output "view_id" {
  description = "The hourly-series view (VOLUME_VIEW of volume-monitor)."
  value       = google_bigquery_table.hourly_series.table_id
}

output "anomalies_table_id" {
  description = "The table of flagged hours (VOLUME_ANOMALIES_TABLE of volume-monitor)."
  value       = google_bigquery_table.anomalies.table_id
}

output "model_id" {
  description = "The ARIMA_PLUS model (VOLUME_MODEL of volume-monitor)."
  value       = var.model_name
}

output "function_env" {
  description = "The environment volume-monitor needs, for the function module."
  value = {
    VOLUME_DATASET         = var.dataset_id
    VOLUME_PROJECT         = var.project_id
    VOLUME_VIEW            = google_bigquery_table.hourly_series.table_id
    VOLUME_MODEL           = var.model_name
    VOLUME_ANOMALIES_TABLE = google_bigquery_table.anomalies.table_id
    BIGQUERY_LOCATION      = var.location
  }
}

output "retraining" {
  description = "The scheduled query's resource name."
  value       = google_bigquery_data_transfer_config.retrain.name
}
