output "dataset_id" {
  description = "The archive dataset's id."
  value       = google_bigquery_dataset.archive.dataset_id
}

output "table_names" {
  description = "Archive table => its table id (the BigQuery subscription's `table` in the manifest)."
  value       = { for k, t in google_bigquery_table.archive : k => t.table_id }
}

output "table_ids" {
  description = "Archive table => its full name, PROJECT.DATASET.TABLE (as a BigQuery subscription and SQL name it)."
  value       = { for k, t in google_bigquery_table.archive : k => "${t.project}.${t.dataset_id}.${t.table_id}" }
  # A BigQuery subscription is refused until its writer may write the table.
  depends_on = [google_bigquery_table_iam_member.writer]
}

output "once_view_ids" {
  description = "Archive table => the full name of its view with one row per event or finding id (PROJECT.DATASET.TABLE_once)."
  value       = { for k, t in google_bigquery_table.once : k => "${t.project}.${t.dataset_id}.${t.table_id}" }
}
