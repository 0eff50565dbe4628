output "topics" {
  description = "Manifest topic name => its resource name and description."
  value       = local.topics
}

output "subscriptions" {
  description = "Manifest subscription name => its settings, manifest defaults resolved."
  value       = local.subscriptions
}

output "push_subscriptions" {
  description = "The subscriptions that push to a function."
  value       = { for k, s in local.subscriptions : k => s if s.delivery == "push" }
}

output "pull_subscriptions" {
  description = "The subscriptions that are pulled (held for a person)."
  value       = { for k, s in local.subscriptions : k => s if s.delivery == "pull" }
}

output "bigquery_subscriptions" {
  description = "The subscriptions that write to a BigQuery archive table."
  value       = { for k, s in local.subscriptions : k => s if s.delivery == "bigquery" }
}

output "dead_letter_topics" {
  description = "Manifest names of the topics some subscription dead-letters to."
  value       = toset([for s in local.subscriptions : s.dead_letter_topic if s.dead_letter_topic != null])
}

output "bigquery_tables" {
  description = "The archive tables the BigQuery subscriptions write to."
  value       = toset([for s in local.subscriptions : s.bigquery_table if s.bigquery_table != null])
}

output "functions" {
  description = "Manifest function name => what its deployment needs: names, topics it publishes to, secrets it mounts, Firestore use."
  value       = local.functions
}

output "secrets" {
  description = "Manifest secret name => its Secret Manager id, environment variable and description."
  value       = local.secrets
}

output "firestore_ttl" {
  description = "Firestore collection => the field of its TTL policy."
  value       = local.firestore_ttl
}

output "firestore_indexes" {
  description = "Composite indexes the code queries: collection and fields (ascending), keyed collection:fields."
  value       = local.firestore_indexes
}

output "bigtable_instance_id" {
  description = "The Bigtable instance of this deployment (its functions' BIGTABLE_INSTANCE) when var.state_store is bigtable."
  value       = local.bigtable_instance_id
}

output "bigtable_tables" {
  description = "Bigtable table => its column families, over every function of the manifest."
  value       = local.bigtable_tables
}

output "bigtable_gc" {
  description = "\"table/family\" => the table, the family and its garbage-collection max age (a Go duration, e.g. \"608425s\")."
  value       = local.bigtable_gc
}

output "secret_placeholder" {
  description = "The value of every secret's first version, which the functions read as unset (the manifest's secretPlaceholder)."
  value       = local.m.secretPlaceholder
}
