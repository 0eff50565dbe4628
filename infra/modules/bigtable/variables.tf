variable "project_id" {
  type        = string
  description = "The project of the instance."
}

variable "instance_id" {
  type        = string
  description = "The instance id (the functions' BIGTABLE_INSTANCE): 6-33 characters."
}

variable "display_name" {
  type        = string
  description = "The instance's display name (4-30 characters)."
  default     = "event-recovery state"
}

variable "zone" {
  type        = string
  description = "The zone of the instance's one cluster (a zone of the functions' region where Bigtable is offered: https://cloud.google.com/bigtable/docs/locations)."
}

variable "max_nodes" {
  type        = number
  description = "Most nodes autoscaling adds (the minimum is 1; at most 10 times the minimum)."
  default     = 3
}

variable "cpu_target" {
  type        = number
  description = "CPU utilization (percent, 10-80) autoscaling keeps the cluster at."
  default     = 50
}

variable "deletion_protection" {
  type        = bool
  description = "Refuse to destroy the instance and its tables."
  default     = true
}

variable "tables" {
  type        = map(list(string))
  description = "Table => its column families (module.topology's bigtable_tables)."
}

variable "gc_policies" {
  type = map(object({
    table   = string
    family  = string
    max_age = string
  }))
  description = "\"table/family\" => its garbage-collection max age (module.topology's bigtable_gc)."
}

variable "labels" {
  type        = map(string)
  description = "Labels on the instance."
  default     = {}
}
