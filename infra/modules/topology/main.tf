# The one place where the manifest becomes what Terraform creates: every other module iterates
# over these maps (for_each keyed by manifest name), so a function, topic, subscription, secret or
# Firestore collection added to shared/topology.json needs no new HCL. Defaults are resolved as
# shared/topology.ts resolveSubscriptions() does; test/unit/infra-topology.test.ts holds the two equal.
locals {
  m        = var.manifest
  defaults = local.m.defaults
  prefix   = var.resource_prefix

  topics = { for t in local.m.topics : t.name => {
    name        = "${local.prefix}${t.name}"
    description = t.description
  } }

  subscriptions = { for s in local.m.subscriptions : s.name => {
    name                  = "${local.prefix}${s.name}"
    topic                 = s.topic
    delivery              = try(s.push, null) != null ? "push" : try(s.pull, null) != null ? "pull" : "bigquery"
    function              = try(s.push.function, null)
    bigquery_table        = try(s.bigquery.table, null)
    filter                = try(s.filter, null)
    dead_letter_topic     = try(s.deadLetterTopic, null)
    max_delivery_attempts = try(s.maxDeliveryAttempts, local.defaults.maxDeliveryAttempts)
    ack_deadline_seconds  = try(s.ackDeadlineSeconds, local.defaults.ackDeadlineSeconds)
    minimum_backoff       = "${try(s.retryPolicy, local.defaults.retryPolicy).minimumBackoffSeconds}s"
    maximum_backoff       = "${try(s.retryPolicy, local.defaults.retryPolicy).maximumBackoffSeconds}s"
    message_retention     = "${local.defaults.messageRetentionSeconds}s"
  } }

  secrets = { for s in try(local.m.secrets, []) : s.name => {
    secret_id   = "${local.prefix}${s.name}"
    env         = s.env
    description = s.description
  } }

  mount_when = { for s in try(local.m.secrets, []) : s.name => try(s.mountWhen, {}) }

  functions = { for f in local.m.functions : f.name => {
    name        = "${local.prefix}${f.name}"
    entry_point = f.name
    # Service account ids are 6-30 characters: long names keep a hash suffix to stay unique.
    account_id = length("${local.prefix}fn-${f.name}") <= 30 ? "${local.prefix}fn-${f.name}" : "${substr("${local.prefix}fn-${f.name}", 0, 21)}-${substr(sha1("${local.prefix}fn-${f.name}"), 0, 8)}"
    publishes  = toset(f.publishes)
    # environment variable => secret (manifest name): a secret with mountWhen only when the
    # function's environment settings set each of its variables to that value.
    secrets = { for name in try(f.secrets, []) : local.secrets[name].env => name if alltrue([
      for k, v in local.mount_when[name] : try(var.function_environment[f.name][k], null) == v
    ]) }
    firestore    = length(try(f.firestore, [])) > 0
    operator_api = try(f.operatorApi, false)
    # A push must be answered within its subscription's ack deadline, and a later answer counts as a
    # failed attempt: the timeout is that deadline, one per function (shared/topology.ts checks it).
    timeout_seconds = max(concat([local.defaults.ackDeadlineSeconds], [
      for s in local.m.subscriptions : try(s.ackDeadlineSeconds, local.defaults.ackDeadlineSeconds) if try(s.push.function, null) == f.name
    ])...)
  } }

  # Collection => TTL field, over every function (collections may be shared: one TTL policy each;
  # a collection without ttlField gets none).
  firestore_ttl = { for collection, fields in {
    for c in flatten([for f in local.m.functions : try(f.firestore, [])]) : c.collection => c.ttlField... if try(c.ttlField, null) != null
  } : collection => distinct(fields)[0] }

  firestore_indexes = { for i in distinct(flatten([
    for f in local.m.functions : [
      for c in try(f.firestore, []) : [
        for fields in try(c.indexes, []) : { collection = c.collection, fields = fields }
      ]
    ]
  ])) : "${i.collection}:${join(",", i.fields)}" => i }
}
