variable "project_id" {
  type        = string
  description = "The GCP project to deploy into."
}

variable "region" {
  type        = string
  description = "Region of the functions, the Cloud Scheduler job and the source bucket, e.g. europe-west1."
}

variable "env" {
  type        = string
  description = "Name of this deployment (dev, staging, prod): a label on every resource."
  default     = "dev"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,20}$", var.env))
    error_message = "env must be 1-21 characters of a-z, 0-9 and -, starting with a letter."
  }
}

variable "resource_prefix" {
  type        = string
  description = "Prefix of every topic, subscription, function, secret and service account name (the functions' RESOURCE_PREFIX), so that two deployments can share a project. Empty: the manifest's names as they are."
  default     = ""

  validation {
    condition     = can(regex("^([a-z][a-z0-9-]{0,7})?$", var.resource_prefix))
    error_message = "resource_prefix must be empty or up to 8 characters of a-z, 0-9 and -, starting with a letter (e.g. \"stg-\")."
  }
}

variable "max_instances" {
  type        = number
  description = "Most instances a function scales to when neither function_settings nor the scale model's defaults (function-scaling.json, scaling.tf) name it."
  default     = 10
}

variable "function_settings" {
  type = map(object({
    max_instances = optional(number)
    min_instances = optional(number)
    memory        = optional(string)
    available_cpu = optional(string)
    concurrency   = optional(number)
    environment   = optional(map(string), {})
  }))
  description = "Per manifest function name: scaling, memory, vCPU (available_cpu, e.g. \"1\"; unset: the memory's tier, 0.333 at 512Mi), requests per instance (concurrency above 1 needs available_cpu of 1 or more) and further environment variables of its config schema (e.g. { \"gap-detector\" = { environment = { RETRIGGER_BROKEN_CHAINS = \"true\" } } }). Secrets are never set here."
  default     = {}

  # Concurrency above 1 needs at least 1 vCPU (https://cloud.google.com/functions/docs/configuring/concurrency);
  # without available_cpu a function gets its memory's tier, 0.333 vCPU at 512Mi
  # (https://cloud.google.com/functions/docs/configuring/memory), and the apply would fail.
  validation {
    condition     = alltrue([for f in values(var.function_settings) : coalesce(f.concurrency, 1) <= 1 || try(tonumber(f.available_cpu) >= 1, false)])
    error_message = "function_settings: a function with concurrency above 1 needs available_cpu of \"1\" or more (its memory's default tier gives less than 1 vCPU)."
  }

  validation {
    condition     = alltrue([for f in values(var.function_settings) : f.available_cpu == null || can(regex("^(0\\.[0-9]+|[1-9][0-9]*)$", f.available_cpu))])
    error_message = "function_settings: available_cpu is a vCPU count, a fraction below 1 (e.g. \"0.5\") or a whole number (\"1\", \"2\", \"4\")."
  }

  validation {
    condition = alltrue(flatten([for f in values(var.function_settings) : [
      for k in keys(f.environment) : !contains(["RESOURCE_PREFIX", "DEDUP_COLLECTION", "LEDGER_COLLECTION", "GAP_COLLECTION_PREFIX", "STATE_STORE", "BIGTABLE_INSTANCE"], k)
    ]]))
    error_message = "function_settings.environment may not set RESOURCE_PREFIX (use resource_prefix), STATE_STORE or BIGTABLE_INSTANCE (use state_store: the instance, its tables and grants follow it) or a collection name (the TTL policies and indexes are keyed on the manifest's collections)."
  }
}

variable "tick_schedule" {
  type        = string
  description = "Cron schedule (in tick_time_zone) of the Cloud Scheduler job that publishes to ticks, so gap-detector reports gaps and broken chains on quiet streams."
  default     = "* * * * *"
}

variable "tick_time_zone" {
  type        = string
  description = "Time zone of tick_schedule."
  default     = "Etc/UTC"
}

variable "operator_members" {
  type        = list(string)
  description = "Who may call the operators' API (the dlq-triage HTTP API), e.g. [\"group:event-recovery-ops@example.com\"]. Never allUsers or allAuthenticatedUsers."
  default     = []

  validation {
    condition     = alltrue([for m in var.operator_members : !contains(["allUsers", "allAuthenticatedUsers"], m)])
    error_message = "operator_members may not be public (allUsers, allAuthenticatedUsers)."
  }
}

variable "firestore_location" {
  type        = string
  description = "Location of the Firestore database when Terraform creates it (a region, or eur3/nam5). Default: region."
  default     = null
}

variable "create_firestore_database" {
  type        = bool
  description = "Create the (default) Firestore database. Set false when the project already has one (Native mode)."
  default     = true
}

variable "bigquery_location" {
  type        = string
  description = "Location of the archive dataset. Default: region."
  default     = null
}

variable "bigquery_dataset_id" {
  type        = string
  description = "Id of the archive dataset. Default: event_recovery, with the resource prefix in front (dashes as underscores)."
  default     = null
}

variable "archive_deletion_protection" {
  type        = bool
  description = "Protect the archive tables (and their rows) from terraform destroy. Set false before tearing a test deployment down."
  default     = true
}

variable "enable_apis" {
  type        = bool
  description = "Enable the project's APIs the stack uses (needs serviceusage.services.enable)."
  default     = true
}

variable "volume_train_on_apply" {
  type        = bool
  description = "Create the volume model at apply (modules/volume-anomalies train_on_apply). Off by default: on a first deploy the archive is still empty and CREATE MODEL fails; the daily retraining creates the model once there is data. Turn it on to (re)create the model at apply once the archive holds events."
  default     = false
}

variable "archive_partition_expiration_days" {
  type        = number
  description = "Days a partition of the BigQuery archives (one UTC day of publish_time) is kept; null keeps them forever. The volume view reads the last archive_scan_days (shared/volume/defaults.json, 29) of them: keep at least 30."
  default     = null

  validation {
    condition     = var.archive_partition_expiration_days == null || try(var.archive_partition_expiration_days >= 30, false)
    error_message = "archive_partition_expiration_days must be null (keep forever) or at least 30: the volume model trains on the last 28 days of the archive."
  }
}

variable "state_store" {
  type        = string
  description = "Where the deduplicator's keys and gap-detector's sequence markers are kept (the functions' STATE_STORE, shared/config.ts): \"bigtable\" (an instance billed per node-hour even idle, cheaper from a few hundred thousand events an hour: README, \"What it costs at idle\") or \"firestore\" (billed per document read, written and deleted; no Bigtable resource is created)."
  default     = "bigtable"

  validation {
    condition     = contains(["bigtable", "firestore"], var.state_store)
    error_message = "state_store must be \"bigtable\" or \"firestore\"."
  }
}

variable "bigtable_zone" {
  type        = string
  description = "Zone of the Bigtable cluster (state_store bigtable). Default: zone b of region; pick a zone where Bigtable is offered (https://cloud.google.com/bigtable/docs/locations)."
  default     = null
}

variable "bigtable_max_nodes" {
  type        = number
  description = "Most nodes Bigtable autoscaling adds to the one-node minimum (state_store bigtable). One SSD node serves about 14,000 rows written a second (https://cloud.google.com/bigtable/docs/performance): 2M events/hour needs the minimum."
  default     = 3

  # Autoscaling's maximum is at most ten times its minimum, which is one node here
  # (https://cloud.google.com/blog/products/databases/dive-deep-into-bigtable-autoscaling-and-how-it-optimizes-costs).
  validation {
    condition     = var.bigtable_max_nodes >= 1 && var.bigtable_max_nodes <= 10 && floor(var.bigtable_max_nodes) == var.bigtable_max_nodes
    error_message = "bigtable_max_nodes must be a whole number from 1 to 10 (at most ten times the minimum of one node)."
  }
}

variable "bigtable_cpu_target" {
  type        = number
  description = "CPU utilization (percent) Bigtable autoscaling keeps the cluster at (state_store bigtable)."
  default     = 50

  # "limited between 10 and 80, otherwise it will return INVALID_ARGUMENT"
  # (https://cloud.google.com/php/docs/reference/cloud-bigtable/latest/Admin.V2.AutoscalingTargets).
  validation {
    condition     = var.bigtable_cpu_target >= 10 && var.bigtable_cpu_target <= 80 && floor(var.bigtable_cpu_target) == var.bigtable_cpu_target
    error_message = "bigtable_cpu_target must be a whole percentage from 10 to 80."
  }
}

variable "bigtable_deletion_protection" {
  type        = bool
  description = "Protect the Bigtable instance and its tables from terraform destroy (state_store bigtable). Set false before tearing a test deployment down."
  default     = true
}
