variable "project_id" {
  type        = string
  description = "The project of the topics and subscriptions."
}

variable "project_number" {
  type        = string
  description = "The project's number: it names the Pub/Sub service agent."
}

variable "topics" {
  type = map(object({
    name        = string
    description = string
  }))
  description = "Manifest topic name => resource name and description (module.topology.topics)."
}

variable "subscriptions" {
  type = map(object({
    name                  = string
    topic                 = string
    delivery              = string
    function              = string
    bigquery_table        = string
    filter                = string
    dead_letter_topic     = string
    max_delivery_attempts = number
    ack_deadline_seconds  = number
    minimum_backoff       = string
    maximum_backoff       = string
    message_retention     = string
  }))
  description = "Manifest subscription name => its settings, defaults resolved (module.topology.subscriptions)."

  validation {
    condition     = alltrue([for s in values(var.subscriptions) : s.delivery == "pull" || s.dead_letter_topic != null])
    error_message = "Every push and BigQuery subscription needs a dead-letter topic."
  }
}

variable "functions" {
  type = map(object({
    name     = string
    uri      = string
    location = string
  }))
  description = "Manifest function name => its Cloud Run service name, URL and location, for the push subscriptions."
}

variable "bigquery_table_ids" {
  type        = map(string)
  description = "Archive table => PROJECT.DATASET.TABLE, for the BigQuery subscriptions."
  default     = {}
}

variable "push_account_id" {
  type        = string
  description = "Account id of the push identity: the service account whose OIDC token every push carries."
  default     = "pubsub-push"
}

variable "labels" {
  type        = map(string)
  description = "Labels on topics and subscriptions."
  default     = {}
}
