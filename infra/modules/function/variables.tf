variable "project_id" {
  type        = string
  description = "The project of the function."
}

variable "region" {
  type        = string
  description = "The function's region."
}

variable "spec" {
  type = object({
    name            = string
    entry_point     = string
    account_id      = string
    publishes       = set(string)
    secrets         = map(string)
    firestore       = bool
    bigtable        = list(string)
    operator_api    = bool
    timeout_seconds = number
  })
  description = "The function as module.topology.functions describes it: resource name, entry point (the manifest name), service account id, topics it publishes to (manifest names), environment variable => manifest secret, Firestore use, Bigtable tables, operators' API, timeout."
}

variable "bigtable_instance" {
  type        = string
  description = "The Bigtable instance of the deployment's state store; null when it keeps state in Firestore (no Bigtable grant)."
  default     = null
}

variable "source_bucket" {
  type        = string
  description = "Bucket of the source archive."
}

variable "source_object" {
  type        = string
  description = "The source archive object, named by its content hash (a code change is a new object, hence a new build)."
}

variable "build_service_account" {
  type        = string
  description = "Service account (projects/P/serviceAccounts/EMAIL) that builds the function with Cloud Build."
}

variable "topic_ids" {
  type        = map(string)
  description = "Manifest topic name => topic id, for the publisher grants."
}

variable "secret_ids" {
  type        = map(string)
  description = "Manifest secret name => its short Secret Manager id."
}

variable "resource_prefix" {
  type        = string
  description = "The functions' RESOURCE_PREFIX: the prefix of every topic name."
  default     = ""
}

variable "environment" {
  type        = map(string)
  description = "Further environment variables (settings the function's config schema reads)."
  default     = {}
}

variable "max_instances" {
  type        = number
  description = "Most instances the function scales to."
  default     = 10
}

variable "min_instances" {
  type        = number
  description = "Instances kept warm (each one is billed while idle)."
  default     = 0
}

variable "memory" {
  type        = string
  description = "Memory of an instance, e.g. 512Mi."
  default     = "512Mi"
}

variable "available_cpu" {
  type        = string
  description = "vCPUs of an instance (e.g. \"1\"); null: the memory's tier (0.333 at 512Mi)."
  default     = null
}

variable "concurrency" {
  type        = number
  description = "Requests one instance serves at once (above 1 needs available_cpu of 1 or more: the root's function_settings validation says so before any apply)."
  default     = 1
}

variable "operator_members" {
  type        = list(string)
  description = "Members (e.g. group:ops@example.com) that may call an operators' API; used only when spec.operator_api is set."
  default     = []
}

variable "labels" {
  type        = map(string)
  description = "Labels on the function."
  default     = {}
}
