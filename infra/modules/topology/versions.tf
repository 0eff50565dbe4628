terraform {
  # Pure expressions over the manifest: no provider, so `terraform console` evaluates this module
  # offline (test/unit/infra-topology.test.ts does).
  required_version = ">= 1.5"
}
