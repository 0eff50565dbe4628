locals {
  service_agent = "serviceAccount:service-${var.project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"
  # Functions some subscription pushes to: their Cloud Run services admit the push identity.
  pushed_functions = toset([for s in values(var.subscriptions) : s.function if s.delivery == "push"])
  dead_lettering   = { for k, s in var.subscriptions : k => s if s.dead_letter_topic != null }
}

resource "google_pubsub_topic" "topic" {
  for_each = var.topics

  project = var.project_id
  name    = each.value.name
  labels  = var.labels
}

# One definition for every subscription of the manifest: push (OIDC to the function's URL, the
# wrapped body the Functions Framework reads), pull, or BigQuery (the archive tables); each with
# its dead-letter topic and retry policy.
resource "google_pubsub_subscription" "sub" {
  for_each = var.subscriptions

  project                    = var.project_id
  name                       = each.value.name
  topic                      = google_pubsub_topic.topic[each.value.topic].id
  filter                     = each.value.filter
  ack_deadline_seconds       = each.value.ack_deadline_seconds
  message_retention_duration = each.value.message_retention
  labels                     = var.labels

  # Never expire for inactivity (the default removes a subscription idle for 31 days).
  expiration_policy {
    ttl = ""
  }

  retry_policy {
    minimum_backoff = each.value.minimum_backoff
    maximum_backoff = each.value.maximum_backoff
  }

  dynamic "dead_letter_policy" {
    # Every push and BigQuery subscription has one (the precondition below and the manifest's
    # schema insist); only a subscription held for a person may go without.
    for_each = each.value.dead_letter_topic == null ? [] : [each.value.dead_letter_topic]
    content {
      dead_letter_topic     = google_pubsub_topic.topic[dead_letter_policy.value].id
      max_delivery_attempts = each.value.max_delivery_attempts
    }
  }

  dynamic "push_config" {
    for_each = each.value.delivery == "push" ? [var.functions[each.value.function]] : []
    content {
      # The path names the topic: the Functions Framework makes it the CloudEvent's source, which
      # the handlers route on (as the local stack does).
      push_endpoint = "${push_config.value.uri}/projects/${var.project_id}/topics/${google_pubsub_topic.topic[each.value.topic].name}"
      oidc_token {
        service_account_email = google_service_account.push.email
        audience              = push_config.value.uri
      }
    }
  }

  dynamic "bigquery_config" {
    for_each = each.value.delivery == "bigquery" ? [var.bigquery_table_ids[each.value.bigquery_table]] : []
    content {
      table            = bigquery_config.value
      write_metadata   = true
      use_topic_schema = false
      use_table_schema = false
    }
  }

  lifecycle {
    precondition {
      condition     = each.value.delivery == "pull" || each.value.dead_letter_topic != null
      error_message = "Subscription ${each.key} pushes or writes to BigQuery without a dead-letter topic."
    }
  }

  depends_on = [
    google_cloud_run_service_iam_member.push_invoker,
    google_pubsub_topic_iam_member.agent_dead_letter_publisher,
    google_service_account_iam_member.agent_token_creator,
  ]
}

# The push identity: the one account whose OIDC token Pub/Sub attaches to every push.
resource "google_service_account" "push" {
  project      = var.project_id
  account_id   = var.push_account_id
  display_name = "event-recovery Pub/Sub push"
  description  = "Identity of the Pub/Sub push subscriptions: invokes the functions' Cloud Run services."
}

resource "google_cloud_run_service_iam_member" "push_invoker" {
  for_each = local.pushed_functions

  project  = var.project_id
  location = var.functions[each.key].location
  service  = var.functions[each.key].name
  role     = "roles/run.invoker"
  member   = google_service_account.push.member
}

# The Pub/Sub service agent mints the push identity's OIDC tokens...
resource "google_service_account_iam_member" "agent_token_creator" {
  service_account_id = google_service_account.push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.service_agent
}

# ...publishes dead letters to the dead-letter topics...
resource "google_pubsub_topic_iam_member" "agent_dead_letter_publisher" {
  for_each = toset([for s in values(local.dead_lettering) : s.dead_letter_topic])

  project = var.project_id
  topic   = google_pubsub_topic.topic[each.key].id
  role    = "roles/pubsub.publisher"
  member  = local.service_agent
}

# ...and acknowledges the dead-lettered message on the subscription it came from.
resource "google_pubsub_subscription_iam_member" "agent_source_subscriber" {
  for_each = local.dead_lettering

  project      = var.project_id
  subscription = google_pubsub_subscription.sub[each.key].id
  role         = "roles/pubsub.subscriber"
  member       = local.service_agent
}
