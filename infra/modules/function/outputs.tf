output "name" {
  description = "The function's (and its Cloud Run service's) name."
  value       = google_cloudfunctions2_function.fn.name
}

output "uri" {
  description = "The function's HTTPS URL (its Cloud Run service's run.app URL)."
  value       = google_cloudfunctions2_function.fn.service_config[0].uri
}

output "service_account_email" {
  description = "The function's runtime identity."
  value       = google_service_account.fn.email
}
