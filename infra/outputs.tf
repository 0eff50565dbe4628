output "function_urls" {
  description = "Manifest function name => its HTTPS URL (reachable only by IAM-authenticated callers: the push identity, and operators for an operators' API)."
  value       = { for name, fn in module.function : name => fn.uri }
}

output "topics" {
  description = "Manifest topic name => the topic's name in the project (publish producers' events to events-raw)."
  value       = module.pubsub.topic_names
}

output "subscriptions" {
  description = "Manifest subscription name => the subscription's name in the project."
  value       = module.pubsub.subscription_names
}

output "bigquery_dataset" {
  description = "The archive dataset: its id, and each archive table's name and full PROJECT.DATASET.TABLE id (inputs of the volume-anomaly resources)."
  value = {
    project    = var.project_id
    dataset_id = module.bigquery.dataset_id
    tables     = module.bigquery.table_names
    table_ids  = module.bigquery.table_ids
  }
}

output "secrets" {
  description = "Manifest secret name => Secret Manager secret id: add each value with gcloud secrets versions add (README, Deploy to GCP)."
  value       = module.secrets.secret_ids
}

output "push_service_account" {
  description = "The identity every push subscription's OIDC token carries."
  value       = module.pubsub.push_service_account_email
}

output "source_object" {
  description = "The deployed source archive (gs://BUCKET/functions-MD5.zip)."
  value       = "gs://${google_storage_bucket.source.name}/${google_storage_bucket_object.source.name}"
}
