output "topic_ids" {
  description = "Manifest topic name => topic id (projects/P/topics/T)."
  value       = { for k, t in google_pubsub_topic.topic : k => t.id }
}

output "topic_names" {
  description = "Manifest topic name => the topic's name in the project."
  value       = { for k, t in google_pubsub_topic.topic : k => t.name }
}

output "subscription_names" {
  description = "Manifest subscription name => the subscription's name in the project."
  value       = { for k, s in google_pubsub_subscription.sub : k => s.name }
}

output "push_service_account_email" {
  description = "The push identity."
  value       = google_service_account.push.email
}

output "service_agent" {
  description = "The Pub/Sub service agent, as an IAM member."
  value       = local.service_agent
}
