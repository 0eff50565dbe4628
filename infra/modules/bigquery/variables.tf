variable "project_id" {
  type        = string
  description = "The project of the dataset."
}

variable "location" {
  type        = string
  description = "BigQuery location of the dataset (a region such as europe-west1, or US/EU)."
}

variable "dataset_id" {
  type        = string
  description = "The archive dataset's id (letters, digits and underscores)."
}

variable "tables" {
  type        = set(string)
  description = "The archive tables the manifest's BigQuery subscriptions write to (module.topology.bigquery_tables)."
}

variable "writers" {
  type        = map(string)
  description = "Static key => member that writes rows into the archive tables: the Pub/Sub service agent of the BigQuery subscriptions."
}

variable "deletion_protection" {
  type        = bool
  description = "Refuse to destroy the archive tables (and their rows) with the stack."
  default     = true
}

variable "partition_expiration_days" {
  type        = number
  description = "Days an archive partition (one UTC day of publish_time) is kept; null keeps them forever."
  default     = null
}

variable "labels" {
  type        = map(string)
  description = "Labels on the dataset and tables."
  default     = {}
}
