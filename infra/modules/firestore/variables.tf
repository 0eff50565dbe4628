variable "project_id" {
  type        = string
  description = "The project of the Firestore database."
}

variable "create_database" {
  type        = bool
  description = "Create the Firestore database (Native mode). False when the project already has it."
  default     = true
}

variable "database" {
  type        = string
  description = "The Firestore database the functions use (the client's default is \"(default)\")."
  default     = "(default)"
}

variable "location_id" {
  type        = string
  description = "Firestore location of a created database: a region (e.g. europe-west1) or a multi-region (eur3, nam5)."
}

variable "ttl_fields" {
  type        = map(string)
  description = "Collection => the timestamp field of its TTL policy (module.topology.firestore_ttl)."
}

variable "indexes" {
  type = map(object({
    collection = string
    fields     = list(string)
  }))
  description = "Composite indexes the code queries, fields ascending in order (module.topology.firestore_indexes)."
}
