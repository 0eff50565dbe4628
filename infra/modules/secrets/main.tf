# The secrets only: their values are added outside Terraform (README, "Deploy to GCP"), so no key
# ever sits in the Terraform state.
resource "google_secret_manager_secret" "secret" {
  for_each = var.secrets

  project   = var.project_id
  secret_id = each.value.secret_id
  labels    = merge(var.labels, { env_var = lower(each.value.env) })
  annotations = {
    description = each.value.description
  }

  replication {
    auto {}
  }
}

# Cloud Run starts no instance whose mounted secret has no version, so a first apply that created
# the secrets empty could not deploy a single function. Each secret therefore starts with this
# placeholder version (the manifest's secretPlaceholder, not a secret): a function reads it as
# unset (shared/config.ts), starts, and fails the deliveries that need the key with a ConfigError
# naming it, recorded for triage. The real value is a later version, added with gcloud (README,
# Deploy to GCP), and `latest` mounts it; Terraform never reads, replaces or destroys it, and its
# state holds only the placeholder. Disable the placeholder if you like; never destroy it (a
# destroyed version would be created again, and become `latest`).
resource "google_secret_manager_secret_version" "placeholder" {
  for_each = var.secrets

  secret      = google_secret_manager_secret.secret[each.key].id
  secret_data = var.placeholder

  lifecycle {
    ignore_changes = [secret_data, enabled]
  }
}
