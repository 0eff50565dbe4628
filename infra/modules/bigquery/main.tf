resource "google_bigquery_dataset" "archive" {
  project                    = var.project_id
  dataset_id                 = var.dataset_id
  location                   = var.location
  description                = "event-recovery: the archives of the BigQuery subscriptions (shared/topology.json), one row per Pub/Sub message."
  labels                     = var.labels
  delete_contents_on_destroy = !var.deletion_protection
}

# The columns a BigQuery subscription writes with write_metadata = true and neither the topic's nor
# the table's schema: the message's data as it was published (an event or a finding, JSON text)
# beside the subscription name, message id and publish time in their own columns, and every other
# message property (the attributes, the ordering key) as one JSON object in `attributes`.
resource "google_bigquery_table" "archive" {
  for_each = var.tables

  project             = var.project_id
  dataset_id          = google_bigquery_dataset.archive.dataset_id
  table_id            = each.key
  description         = "Messages archived by the BigQuery subscription that writes to ${each.key} (shared/topology.json)."
  labels              = var.labels
  deletion_protection = var.deletion_protection

  time_partitioning {
    type          = "DAY"
    field         = "publish_time"
    expiration_ms = var.partition_expiration_days == null ? null : var.partition_expiration_days * 86400000
  }

  schema = jsonencode([
    { name = "subscription_name", type = "STRING", mode = "NULLABLE", description = "The subscription that wrote the row." },
    { name = "message_id", type = "STRING", mode = "NULLABLE", description = "Pub/Sub message id." },
    { name = "publish_time", type = "TIMESTAMP", mode = "NULLABLE", description = "When the message was published." },
    { name = "data", type = "STRING", mode = "NULLABLE", description = "The message data as published: the event or finding, JSON text." },
    { name = "attributes", type = "STRING", mode = "NULLABLE", description = "Attributes and ordering key, a JSON object." },
  ])
}

# BigQuery subscriptions write as the Pub/Sub service agent: table data, on these tables only.
resource "google_bigquery_table_iam_member" "writer" {
  for_each = { for pair in setproduct(var.tables, keys(var.writers)) : "${pair[0]}/${pair[1]}" => { table = pair[0], member = var.writers[pair[1]] } }

  project    = var.project_id
  dataset_id = google_bigquery_dataset.archive.dataset_id
  table_id   = google_bigquery_table.archive[each.value.table].table_id
  role       = "roles/bigquery.dataEditor"
  member     = each.value.member
}

# Each archive once (shared/archive/sql/once.sql): the raw table keeps every Pub/Sub message,
# so a republish under the same id after a crash is two rows there; the view keeps one per event
# id (events) or finding id (findings). Query the view; the raw rows stay for forensics.
resource "google_bigquery_table" "once" {
  for_each = var.tables

  project             = var.project_id
  dataset_id          = google_bigquery_dataset.archive.dataset_id
  table_id            = "${each.key}_once"
  description         = "${each.key}, one row per event or finding id: the first published (shared/archive/sql/once.sql)."
  labels              = var.labels
  deletion_protection = false

  view {
    query = templatefile("${path.module}/../../../shared/archive/sql/once.sql", {
      project = var.project_id
      dataset = google_bigquery_dataset.archive.dataset_id
      table   = google_bigquery_table.archive[each.key].table_id
    })
    use_legacy_sql = false
  }
}
