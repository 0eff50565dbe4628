output "instance_name" {
  description = "The instance's name (its id): the functions' BIGTABLE_INSTANCE."
  value       = google_bigtable_instance.state.name
}

output "table_names" {
  description = "Manifest table name => the table's name in the instance."
  value       = { for k, t in google_bigtable_table.table : k => t.name }
}
