output "ids" {
  description = "Manifest secret name => the secret's id (projects/P/secrets/S)."
  value       = { for k, s in google_secret_manager_secret.secret : k => s.id }
}

output "secret_ids" {
  description = "Manifest secret name => the secret's short id, as secret_environment_variables names it."
  value       = { for k, s in google_secret_manager_secret.secret : k => s.secret_id }
}
