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
