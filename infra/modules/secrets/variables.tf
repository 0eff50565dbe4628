variable "project_id" {
  type        = string
  description = "The project the secrets live in."
}

variable "secrets" {
  type = map(object({
    secret_id   = string
    env         = string
    description = string
  }))
  description = "Manifest secret name => its Secret Manager id, the environment variable it becomes, and what it is (module.topology.secrets)."
}

variable "labels" {
  type        = map(string)
  description = "Labels on every secret."
  default     = {}
}

variable "placeholder" {
  type        = string
  description = "The value of every secret's first version (module.topology.secret_placeholder): read as unset by the functions."
}
