# One Cloud Function (gen2) of the manifest with its own identity and exactly the grants its
# manifest entry names: publisher on its `publishes` topics, accessor on its `secrets`, Firestore
# user when it keeps state there, Bigtable user on the instance when it lists a Bigtable table and
# the deployment keeps state in Bigtable, and nothing public.
resource "google_service_account" "fn" {
  project      = var.project_id
  account_id   = var.spec.account_id
  display_name = "event-recovery ${var.spec.entry_point}"
  description  = "Runtime identity of the ${var.spec.name} function (shared/topology.json)."
}

resource "google_cloudfunctions2_function" "fn" {
  project     = var.project_id
  location    = var.region
  name        = var.spec.name
  description = "event-recovery ${var.spec.entry_point}: see shared/topology.json."
  labels      = var.labels

  build_config {
    runtime         = "nodejs22"
    entry_point     = var.spec.entry_point
    service_account = var.build_service_account
    source {
      storage_source {
        bucket = var.source_bucket
        object = var.source_object
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.fn.email
    max_instance_count               = var.max_instances
    min_instance_count               = var.min_instances
    available_memory                 = var.memory
    available_cpu                    = var.available_cpu
    max_instance_request_concurrency = var.concurrency
    timeout_seconds                  = var.spec.timeout_seconds
    all_traffic_on_latest_revision   = true
    # Pushes from Pub/Sub to the run.app URL in the same project count as internal traffic; only
    # an operators' API must be reachable from outside (and still needs IAM, never allUsers).
    ingress_settings = var.spec.operator_api ? "ALLOW_ALL" : "ALLOW_INTERNAL_ONLY"
    # Cloud Run functions set no GOOGLE_CLOUD_PROJECT in newer runtimes: the functions name their
    # project in the log's trace field and the clients find it here rather than asking the
    # metadata server (test/integration/deploy-rehearsal.test.ts starts them with these names only).
    environment_variables = merge(var.environment, {
      RESOURCE_PREFIX      = var.resource_prefix
      GOOGLE_CLOUD_PROJECT = var.project_id
    })

    dynamic "secret_environment_variables" {
      for_each = var.spec.secrets
      content {
        key        = secret_environment_variables.key
        project_id = var.project_id
        secret     = var.secret_ids[secret_environment_variables.value]
        version    = "latest"
      }
    }
  }

  lifecycle {
    precondition {
      condition     = length(setintersection(keys(var.environment), keys(var.spec.secrets))) == 0
      error_message = "A secret of ${var.spec.entry_point} comes from Secret Manager, never from its environment settings."
    }
  }

  depends_on = [google_secret_manager_secret_iam_member.reads, google_project_iam_member.firestore, google_bigtable_instance_iam_member.state]
}

resource "google_pubsub_topic_iam_member" "publishes" {
  for_each = var.spec.publishes

  project = var.project_id
  topic   = var.topic_ids[each.key]
  role    = "roles/pubsub.publisher"
  member  = google_service_account.fn.member
}

resource "google_secret_manager_secret_iam_member" "reads" {
  for_each = var.spec.secrets

  project   = var.project_id
  secret_id = var.secret_ids[each.value]
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.fn.member
}

resource "google_project_iam_member" "firestore" {
  count = var.spec.firestore ? 1 : 0

  project = var.project_id
  role    = "roles/datastore.user"
  member  = google_service_account.fn.member
}

# Reads and writes the Bigtable tables its manifest entry lists (when the deployment keeps state in
# Bigtable): roles/bigtable.user on the instance, never the project: "read-write access to the data
# stored within Bigtable tables. Intended for application developers or service accounts", with no
# admin permission (https://cloud.google.com/iam/docs/roles-permissions/bigtable,
# https://cloud.google.com/bigtable/docs/access-control).
resource "google_bigtable_instance_iam_member" "state" {
  count = var.bigtable_instance != null && length(var.spec.bigtable) > 0 ? 1 : 0

  project  = var.project_id
  instance = var.bigtable_instance
  role     = "roles/bigtable.user"
  member   = google_service_account.fn.member
}

resource "google_cloud_run_service_iam_member" "operators" {
  for_each = var.spec.operator_api ? toset(var.operator_members) : toset([])

  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.fn.name
  role     = "roles/run.invoker"
  member   = each.value
}
