# event-recovery on GCP: everything the topology manifest describes, read from it once.
# Nothing about topics, subscriptions, functions, their grants, secrets or Firestore collections
# is written in HCL: module.topology turns shared/topology.json into the maps every module
# iterates over (for_each keyed by manifest name).

module "topology" {
  source          = "./modules/topology"
  manifest        = jsondecode(file("${path.module}/../shared/topology.json"))
  resource_prefix = var.resource_prefix
  # A secret read in one mode only is mounted in that mode (e.g. dlq-api-token with DLQ_API_AUTH=token).
  function_environment = { for name, s in var.function_settings : name => s.environment }
}

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  labels = { app = "event-recovery", env = var.env }
  # The Bigtable state store (var.state_store): the admin API makes the instance and tables, the
  # data API serves the functions' reads and writes (https://cloud.google.com/bigtable/docs/reference/admin/rest,
  # https://cloud.google.com/bigtable/docs/reference/data/rest).
  bigtable = var.state_store == "bigtable"
  apis = setunion([
    "artifactregistry.googleapis.com",
    "bigquery.googleapis.com",
    "bigquerydatatransfer.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudscheduler.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ], local.bigtable ? ["bigtableadmin.googleapis.com", "bigtable.googleapis.com"] : [])
  dataset_id = coalesce(var.bigquery_dataset_id, "${replace(var.resource_prefix, "-", "_")}event_recovery")
}

resource "google_project_service" "api" {
  for_each = var.enable_apis ? local.apis : toset([])

  project            = var.project_id
  service            = each.key
  disable_on_destroy = false
}

# Service agents that Terraform grants roles to. On a new project an agent may not exist yet when
# its API has just been enabled, and a grant to it fails; this makes Google create it first
# (google-beta only: https://registry.terraform.io/providers/hashicorp/google/latest/docs/resources/project_service_identity).
resource "google_project_service_identity" "agent" {
  for_each = toset(["pubsub.googleapis.com", "bigquerydatatransfer.googleapis.com"])
  provider = google-beta

  project    = var.project_id
  service    = each.key
  depends_on = [google_project_service.api]
}

# New grants take up to a few minutes to be seen everywhere (the provider's own tests see 403s on a
# first apply: https://cloud.google.com/iam/docs/access-change-propagation). The BigQuery
# subscriptions (the Pub/Sub agent writing the archive tables), the function builds (the build
# identity) and the scheduled query (the Data Transfer agent minting the retraining identity's
# tokens) wait for it after their grants. Two minutes, on the first apply only.
resource "time_sleep" "grants_propagate" {
  create_duration = "120s"

  depends_on = [
    module.bigquery,
    google_project_iam_member.build,
    google_storage_bucket_iam_member.build_reads_source,
    google_service_account_iam_member.retrain_token_creator,
    google_project_iam_member.retrain_jobs,
    google_bigquery_dataset_iam_member.retrain_data,
  ]
}

module "secrets" {
  source      = "./modules/secrets"
  project_id  = var.project_id
  secrets     = module.topology.secrets
  placeholder = module.topology.secret_placeholder
  labels      = local.labels
  depends_on  = [google_project_service.api]
}

module "pubsub" {
  source         = "./modules/pubsub"
  project_id     = var.project_id
  project_number = data.google_project.this.number
  topics         = module.topology.topics
  subscriptions  = module.topology.subscriptions
  functions = { for name, fn in module.function : name => {
    name     = fn.name
    uri      = fn.uri
    location = var.region
  } }
  bigquery_table_ids = module.bigquery.table_ids
  push_account_id    = "${var.resource_prefix}pubsub-push"
  labels             = local.labels
  depends_on         = [google_project_service.api, google_project_service_identity.agent, time_sleep.grants_propagate]
}

module "firestore" {
  source          = "./modules/firestore"
  project_id      = var.project_id
  create_database = var.create_firestore_database
  location_id     = coalesce(var.firestore_location, var.region)
  ttl_fields      = module.topology.firestore_ttl
  indexes         = module.topology.firestore_indexes
  depends_on      = [google_project_service.api]
}

# The Bigtable state store, when var.state_store is bigtable (nothing otherwise): the instance, one
# table per table the manifest lists under a function's `bigtable`, a garbage-collection policy per
# column family (modules/bigtable). Each function that lists a table gets roles/bigtable.user on the
# instance (modules/function) and STATE_STORE, BIGTABLE_INSTANCE (local.state_store_environment).
module "bigtable" {
  source = "./modules/bigtable"
  count  = local.bigtable ? 1 : 0

  project_id          = var.project_id
  instance_id         = module.topology.bigtable_instance_id
  zone                = coalesce(var.bigtable_zone, "${var.region}-b")
  max_nodes           = var.bigtable_max_nodes
  cpu_target          = var.bigtable_cpu_target
  deletion_protection = var.bigtable_deletion_protection
  tables              = module.topology.bigtable_tables
  gc_policies         = module.topology.bigtable_gc
  labels              = local.labels
  depends_on          = [google_project_service.api]
}

module "bigquery" {
  source              = "./modules/bigquery"
  project_id          = var.project_id
  location            = coalesce(var.bigquery_location, var.region)
  dataset_id          = local.dataset_id
  tables              = module.topology.bigquery_tables
  writers             = { pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com" }
  deletion_protection = var.archive_deletion_protection
  labels              = local.labels
  depends_on          = [google_project_service.api, google_project_service_identity.agent]

  partition_expiration_days = var.archive_partition_expiration_days
}

# Volume anomalies (DESIGN §3): the hourly view over the archive of events-unique, the ARIMA_PLUS
# model and its daily retraining, the volume_anomalies table; volume-monitor asks the model on ticks.
module "volume_anomalies" {
  source              = "./modules/volume-anomalies"
  project_id          = var.project_id
  location            = coalesce(var.bigquery_location, var.region)
  dataset_id          = module.bigquery.dataset_id
  archive_table       = module.bigquery.table_names["events_unique"]
  train_on_apply      = var.volume_train_on_apply
  deletion_protection = var.archive_deletion_protection
  labels              = local.labels
  # The daily retraining runs as its own identity, never the deployer's: a scheduled query made
  # with end-user credentials fails, and is tied to one person otherwise.
  scheduled_query_service_account = google_service_account.retrain.email
  depends_on                      = [google_project_service.api, time_sleep.grants_propagate]
}

# The volume model's retraining identity (https://cloud.google.com/bigquery/docs/use-service-accounts):
# it runs query jobs in the project and replaces the model in the dataset (job user, data editor
# on the dataset), and the BigQuery Data Transfer service agent mints its tokens to run the
# scheduled query (https://cloud.google.com/bigquery/docs/dts-authentication-authorization).
resource "google_service_account" "retrain" {
  project      = var.project_id
  account_id   = "${var.resource_prefix}volume-retrain"
  display_name = "event-recovery volume model retraining"
  description  = "Runs the daily scheduled query that retrains the volume anomaly model (BigQuery Data Transfer)."
}

resource "google_project_iam_member" "retrain_jobs" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = google_service_account.retrain.member
}

resource "google_bigquery_dataset_iam_member" "retrain_data" {
  project    = var.project_id
  dataset_id = module.bigquery.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.retrain.member
}

resource "google_service_account_iam_member" "retrain_token_creator" {
  depends_on         = [google_project_service_identity.agent]
  service_account_id = google_service_account.retrain.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-bigquerydatatransfer.iam.gserviceaccount.com"
}

# One source archive for every function, named by its content hash: a code change is a new
# object, so every function builds again; an unchanged tree redeploys nothing. The archive holds
# what `npm run gcp-build` compiles (the buildpack installs, builds, then starts dist/functions).
data "archive_file" "source" {
  type        = "zip"
  source_dir  = "${path.module}/.."
  output_path = "${path.module}/.build/source.zip"
  # Top-level entries only: test/unit/infra-source.test.ts fails when a new one is neither here
  # nor part of the build.
  excludes = [
    ".git", ".github", ".ci", ".bench", ".gitignore", ".env", "node_modules", "dist", "coverage", "replay-out",
    "infra", "test", "tools", "README.md", "eslint.config.js", "jest.config.js", "cloudbuild.yaml",
  ]
}

resource "google_storage_bucket" "source" {
  project                     = var.project_id
  name                        = "${var.project_id}-${var.resource_prefix}event-recovery-source"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true
  labels                      = local.labels
  # No age-based lifecycle rule: it deleted the archive the state still names, so every later
  # plan uploaded it again. Terraform replaces the object when the code changes (a new name),
  # which deletes the old one: the bucket holds one archive.
  depends_on = [google_project_service.api]
}

resource "google_storage_bucket_object" "source" {
  bucket = google_storage_bucket.source.name
  name   = "functions-${data.archive_file.source.output_md5}.zip"
  source = data.archive_file.source.output_path
}

# Environment a function gets from the module that made its resources (beside var.function_settings):
# volume-monitor's BigQuery names come from module.volume_anomalies.
locals {
  module_environment = {
    "volume-monitor" = module.volume_anomalies.function_env
    # dlq-triage authorizes per path from verified ID tokens (functions/dlq-triage/auth.ts): the
    # push path only for the push identity, the operators' API only for these members.
    "dlq-triage" = {
      DLQ_PUSH_SERVICE_ACCOUNT = module.pubsub.push_service_account_email
      DLQ_OPERATORS            = join(",", var.operator_members)
    }
  }
}

# What a function that keeps state in a store of var.state_store reads to find it (shared/config.ts
# StateStoreEnv); given to each function whose manifest entry lists a Bigtable table, in either mode.
locals {
  state_store_environment = {
    STATE_STORE       = var.state_store
    BIGTABLE_INSTANCE = module.topology.bigtable_instance_id
  }
}

# Cloud Build builds the functions as this account rather than a project default.
resource "google_service_account" "build" {
  project      = var.project_id
  account_id   = "${var.resource_prefix}fn-build"
  display_name = "event-recovery function builds"
  description  = "Builds the functions' containers (Cloud Build)."
}

resource "google_project_iam_member" "build" {
  for_each = toset(["roles/cloudbuild.builds.builder", "roles/logging.logWriter", "roles/artifactregistry.writer"])

  project = var.project_id
  role    = each.key
  member  = google_service_account.build.member
}

resource "google_storage_bucket_iam_member" "build_reads_source" {
  bucket = google_storage_bucket.source.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.build.member
}

module "function" {
  source   = "./modules/function"
  for_each = module.topology.functions

  project_id            = var.project_id
  region                = var.region
  spec                  = each.value
  source_bucket         = google_storage_bucket.source.name
  source_object         = google_storage_bucket_object.source.name
  build_service_account = google_service_account.build.id
  topic_ids             = module.pubsub.topic_ids
  secret_ids            = module.secrets.secret_ids
  resource_prefix       = var.resource_prefix
  environment           = merge(try(var.function_settings[each.key].environment, {}), try(local.module_environment[each.key], {}), length(each.value.bigtable) > 0 ? local.state_store_environment : {})
  bigtable_instance     = local.bigtable ? module.topology.bigtable_instance_id : null
  max_instances         = try(local.function_scaling[each.key].max_instances, var.max_instances)
  min_instances         = coalesce(try(var.function_settings[each.key].min_instances, null), 0)
  memory                = coalesce(try(var.function_settings[each.key].memory, null), "512Mi")
  available_cpu         = try(local.function_scaling[each.key].available_cpu, null)
  concurrency           = try(local.function_scaling[each.key].concurrency, 1)
  operator_members      = var.operator_members
  labels                = local.labels

  depends_on = [google_project_iam_member.build, google_storage_bucket_iam_member.build_reads_source, google_project_service.api, time_sleep.grants_propagate, module.bigtable]
}

# The scheduled clock of gap-detector: without it a producer that goes quiet leaves its gaps and
# chains unreported. Pub/Sub rejects an empty message, hence the data.
resource "google_cloud_scheduler_job" "ticks" {
  project     = var.project_id
  region      = var.region
  name        = "${var.resource_prefix}event-recovery-ticks"
  description = "Publishes a tick to ${module.pubsub.topic_names["ticks"]} (gap-detector's clock)."
  schedule    = var.tick_schedule
  time_zone   = var.tick_time_zone

  pubsub_target {
    topic_name = module.pubsub.topic_ids["ticks"]
    data       = base64encode(jsonencode({ tick = "cloud-scheduler" }))
    attributes = { source = "cloud-scheduler" }
  }

  depends_on = [google_project_service.api]
}

# volume-monitor's BigQuery access, least privilege: it runs query jobs in the project (job user),
# reads the hourly view, the archive table under it and the model (data viewer on the dataset),
# and MERGEs the hours it flags into the volume_anomalies table (data editor on that table only).
locals {
  volume_monitor_member = "serviceAccount:${module.function["volume-monitor"].service_account_email}"
}

resource "google_project_iam_member" "volume_monitor_jobs" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = local.volume_monitor_member
}

resource "google_bigquery_dataset_iam_member" "volume_monitor_reads" {
  project    = var.project_id
  dataset_id = module.bigquery.dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = local.volume_monitor_member
}

resource "google_bigquery_table_iam_member" "volume_monitor_flags" {
  project    = var.project_id
  dataset_id = module.bigquery.dataset_id
  table_id   = module.volume_anomalies.anomalies_table_id
  role       = "roles/bigquery.dataEditor"
  member     = local.volume_monitor_member
}
