variable "project_id" {
  type        = string
  description = "The project of the dataset, the model and the scheduled retraining."
}

variable "location" {
  type        = string
  description = "BigQuery location of the dataset (a region such as europe-west1, or US/EU); the model job and the scheduled query run there."
}

variable "dataset_id" {
  type        = string
  description = "The dataset that holds the archive of accepted events; the view, the model and the volume_anomalies table go beside it."
}

variable "archive_table" {
  type        = string
  description = "The archive table of events-unique (the BigQuery subscription's table in shared/topology.json): `data` is the CloudEvent JSON."
  default     = "events_unique"
}

variable "view_name" {
  type        = string
  description = "The hourly-series view (series, hour, value)."
  default     = "volume_hourly_series"
}

variable "model_name" {
  type        = string
  description = "The ARIMA_PLUS model."
  default     = "volume_model"
}

variable "anomalies_table" {
  type        = string
  description = "The table of flagged (series, hour): volume-monitor adds to it, retraining leaves its hours out."
  default     = "volume_anomalies"
}

variable "train_on_apply" {
  type        = bool
  description = "Create the model at apply time (google_bigquery_job). Set false on a first deploy whose archive is still empty: CREATE MODEL fails without data, and the daily retraining creates the model once there is some."
  default     = true
}

variable "retrain_schedule" {
  type        = string
  description = "When the scheduled query retrains the model (BigQuery Data Transfer schedule syntax)."
  default     = "every 24 hours"
}

variable "scheduled_query_service_account" {
  type        = string
  description = "Email of the service account the daily retraining runs as (BigQuery job user on the project, data editor on the dataset, and the BigQuery Data Transfer service agent allowed to mint its tokens: infra/main.tf grants all three)."
}

variable "deletion_protection" {
  type        = bool
  description = "Refuse to destroy the volume_anomalies table (the record of flagged hours) with the stack."
  default     = true
}

variable "labels" {
  type        = map(string)
  description = "Labels on the tables and the model job."
  default     = {}
}
