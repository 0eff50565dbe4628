resource "google_firestore_database" "db" {
  count = var.create_database ? 1 : 0

  project                 = var.project_id
  name                    = var.database
  location_id             = var.location_id
  type                    = "FIRESTORE_NATIVE"
  concurrency_mode        = "OPTIMISTIC"
  delete_protection_state = "DELETE_PROTECTION_ENABLED"
  deletion_policy         = "ABANDON"
}

locals {
  # Resolved after the database exists when Terraform creates it.
  database = var.create_database ? google_firestore_database.db[0].name : var.database
}

# A TTL policy per collection the code writes expiring documents to: Firestore deletes a document
# some time (typically within a day) after its TTL field has passed. The field is excluded from
# single-field indexing (an empty index_config): nothing queries it, and a monotonically rising
# timestamp index would be a write hotspot.
resource "google_firestore_field" "ttl" {
  for_each = var.ttl_fields

  project    = var.project_id
  database   = local.database
  collection = each.key
  field      = each.value

  ttl_config {}
  index_config {}
}

resource "google_firestore_index" "composite" {
  for_each = var.indexes

  project    = var.project_id
  database   = local.database
  collection = each.value.collection

  dynamic "fields" {
    # Firestore appends __name__ in the direction of the last field; declaring it keeps plans clean.
    for_each = concat(each.value.fields, ["__name__"])
    content {
      field_path = fields.value
      order      = "ASCENDING"
    }
  }
}
