variable "manifest" {
  type        = any
  description = "The decoded topology manifest, shared/topology.json (jsondecode(file(...)))."
}

variable "resource_prefix" {
  type        = string
  description = "Prepended to every topic, subscription, function and service account name (the functions' RESOURCE_PREFIX), so that stacks can share a project."
  default     = ""
}

variable "function_environment" {
  type        = map(map(string))
  description = "Manifest function name => the environment its settings give it (var.function_settings): a secret with mountWhen is mounted only when these meet it."
  default     = {}
}
