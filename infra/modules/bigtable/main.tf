# The Bigtable state store (var.state_store = "bigtable" in the root module): the deduplicator's keys
# and gap-detector's sequence markers, the two per-event costs that Firestore bills per document.
# Bigtable bills provisioned nodes by the hour instead, "regardless of node usage"
# (https://cloud.google.com/bigtable/pricing): one node is billed even idle (README, "What it costs
# at idle"). Everything here comes from the topology manifest through module.topology.

# One cluster, SSD, in one zone of the region. Created with a single cluster, the instance's default
# app profile uses single-cluster routing and allows single-row transactions (CheckAndMutateRow,
# ReadModifyWriteRow), which the stores' claims need: "If you created the instance with 1 cluster,
# the default app profile uses single-cluster routing, and it enables single-row transactions"
# (https://cloud.google.com/bigtable/docs/app-profiles). Those settings follow the number of
# clusters the instance was created with, so a second cluster added later keeps them; Bigtable's
# atomicity is one row (https://cloud.google.com/bigtable/docs/writes), which the stores' keys are
# designed around.
resource "google_bigtable_instance" "state" {
  project      = var.project_id
  name         = var.instance_id
  display_name = var.display_name
  labels       = var.labels
  # Terraform refuses to destroy it (or replace it on a change that forces one) while true; Google asks
  # for deletion protection before Terraform provisions Bigtable
  # (https://cloud.google.com/bigtable/docs/terraform), on the tables too
  # (https://cloud.google.com/bigtable/docs/managing-tables#modify-deletion-protection).
  deletion_protection = var.deletion_protection

  cluster {
    cluster_id   = "${var.instance_id}-c1"
    zone         = var.zone
    storage_type = "SSD"
    # Autoscaling on CPU between one node and max_nodes (https://cloud.google.com/bigtable/docs/autoscaling):
    # the maximum may be at most ten times the minimum
    # (https://cloud.google.com/blog/products/databases/dive-deep-into-bigtable-autoscaling-and-how-it-optimizes-costs),
    # the CPU target is "limited between 10 and 80, otherwise it will return INVALID_ARGUMENT"
    # (https://cloud.google.com/php/docs/reference/cloud-bigtable/latest/Admin.V2.AutoscalingTargets);
    # the root module's validations refuse both before any apply.
    autoscaling_config {
      min_nodes  = 1
      max_nodes  = var.max_nodes
      cpu_target = var.cpu_target
    }
  }
}

# One table per table the manifest lists, with its column families.
resource "google_bigtable_table" "table" {
  for_each = var.tables

  project             = var.project_id
  instance_name       = google_bigtable_instance.state.name
  name                = each.key
  deletion_protection = var.deletion_protection ? "PROTECTED" : "UNPROTECTED"

  dynamic "column_family" {
    for_each = toset(each.value)
    content {
      family = column_family.value
    }
  }

  lifecycle {
    # Every family gets its max age (module.topology's bigtable_gc), or the plan stops here.
    precondition {
      condition     = alltrue([for family in each.value : contains(keys(var.gc_policies), "${each.key}/${family}")])
      error_message = "Bigtable table ${each.key}: every column family needs a garbage-collection policy (maxAge of the table in shared/topology.json)."
    }
  }
}

# One garbage-collection policy per column family: cells older than their max age (a Go duration,
# module.topology's bigtable_gc) are removed, up to a week later
# (https://cloud.google.com/bigtable/docs/garbage-collection); one policy per family, as the provider
# advises (https://registry.terraform.io/providers/hashicorp/google/latest/docs/resources/bigtable_gc_policy).
resource "google_bigtable_gc_policy" "max_age" {
  for_each = var.gc_policies

  project       = var.project_id
  instance_name = google_bigtable_instance.state.name
  table         = google_bigtable_table.table[each.value.table].name
  column_family = each.value.family

  max_age {
    duration = each.value.max_age
  }
}
