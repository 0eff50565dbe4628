# Each function's max_instances, concurrency and available_cpu (module "function" in main.tf).
# Defaults: the scale model's recommendation at 2M events/hour with 2x headroom, written to
# function-scaling.json by `npm run scale -- --events-per-hour 2000000 --settings recommended
# --write-infra` (README, "Millions of events per hour"; test/unit/infra-scaling.test.ts holds
# them together); function_settings override them one by one. Concurrency above 1 only at 1 vCPU
# or more (https://cloud.google.com/run/docs/configuring/services/cpu), so a function given less
# CPU in function_settings falls back to concurrency 1. 1 vCPU with the default 512Mi is allowed:
# only 4 vCPU and more need more memory
# (https://cloud.google.com/run/docs/configuring/services/memory-limits). Where a function cannot
# share an instance anyway (its CPU per request allows concurrency 1), the model recommends its
# memory's own tier instead (0.333 vCPU at 512Mi: Cloud Run takes 0.08 to 1 vCPU in steps of 0.001,
# at concurrency 1, same page), which bills a third of the CPU while a request waits. A function in
# neither gets var.max_instances, concurrency 1 and its memory's vCPU.

locals {
  scaling = jsondecode(file("${path.module}/function-scaling.json")).functions
  scaled  = distinct(concat(keys(local.scaling), keys(var.function_settings)))
  function_cpu = {
    for name in local.scaled :
    name => try(coalesce(try(var.function_settings[name].available_cpu, null), try(local.scaling[name].available_cpu, null)), null)
  }
  function_scaling = {
    for name in local.scaled : name => {
      max_instances = coalesce(try(var.function_settings[name].max_instances, null), try(local.scaling[name].max_instances, null), var.max_instances)
      available_cpu = local.function_cpu[name]
      concurrency   = coalesce(try(var.function_settings[name].concurrency, null), try(tonumber(local.function_cpu[name]) >= 1, false) ? try(local.scaling[name].concurrency, 1) : 1)
    }
  }
}
