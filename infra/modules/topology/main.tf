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
    firestore = length(try(f.firestore, [])) > 0
    # The Bigtable tables it keeps state in (when var.state_store is bigtable): it gets
    # roles/bigtable.user on the instance and the state store's environment.
    bigtable     = distinct([for t in try(f.bigtable, []) : t.table])
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

  # The Bigtable instance of this deployment (the functions' BIGTABLE_INSTANCE, shared/config.ts
  # StateStoreEnv): one per resource prefix, so two stacks sharing a project keep their state apart
  # and the tables keep the manifest's names (6-33 characters: a prefix of up to 8 fits).
  bigtable_instance_id = "${local.prefix}event-recovery"

  # Table => its column families, over every function (a table two functions keep is one table).
  bigtable_tables = { for table, families in {
    for t in flatten([for f in local.m.functions : try(f.bigtable, [])]) : t.table => t.families...
  } : table => sort(distinct(flatten(families))) }

  # "table/family" => its garbage-collection max age (shared/topology.ts BigtableMaxAge): the sum of
  # the settings the manifest names, each from the function's environment settings or else its
  # default, in the unit its name ends with, plus the margin; the longest where two functions share
  # a table. A table without maxAge gets no entry here (and test/unit/infra-topology.test.ts fails).
  bigtable_gc_seconds = { for key, ages in {
    for e in flatten([for f in local.m.functions : [for t in try(f.bigtable, []) : [for family in t.families : {
      key = "${t.table}/${family}"
      seconds = sum(concat([t.maxAge.marginHours * 3600], [
        for name, default in t.maxAge.settings : tonumber(try(var.function_environment[f.name][name], default)) * (endswith(name, "_DAYS") ? 86400 : endswith(name, "_HOURS") ? 3600 : endswith(name, "_MINUTES") ? 60 : 1)
      ]))
    } if try(t.maxAge, null) != null]]]) : e.key => e.seconds...
  } : key => max(ages...) }

  bigtable_gc = { for key, seconds in local.bigtable_gc_seconds : key => {
    table  = split("/", key)[0]
    family = split("/", key)[1]
    # Whole seconds, in the Go duration format the provider parses (time.ParseDuration).
    max_age = "${ceil(seconds)}s"
  } }

  firestore_indexes = { for i in distinct(flatten([
    for f in local.m.functions : [
      for c in try(f.firestore, []) : [
        for fields in try(c.indexes, []) : { collection = c.collection, fields = fields }
      ]
    ]
  ])) : "${i.collection}:${join(",", i.fields)}" => i }
}
