output "database" {
  description = "The Firestore database the functions use."
  value       = local.database
}
