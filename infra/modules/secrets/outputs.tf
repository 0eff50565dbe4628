output "ids" {
  description = "Manifest secret name => the secret's id (projects/P/secrets/S)."
  value       = { for k, s in google_secret_manager_secret.secret : k => s.id }
}

output "secret_ids" {
  description = "Manifest secret name => the secret's short id, as secret_environment_variables names it."
  value       = { for k, s in google_secret_manager_secret.secret : k => s.secret_id }
  # A function mounts `latest`: it is created once every secret has its placeholder version.
  depends_on = [google_secret_manager_secret_version.placeholder]
}
