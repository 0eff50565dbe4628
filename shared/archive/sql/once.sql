-- One row per event or finding of an archive table (issue 19, DESIGN §4): Pub/Sub publishing is
-- at least once, and a function that dies after publishing and before its ack publishes again
-- under the same id when the message is redelivered, so the raw table (one row per Pub/Sub
-- message) may hold two rows of one event or finding. This view keeps the first published: a
-- finding by its `finding_id` attribute, an event by its CloudEvents `id`, anything else by its
-- message id. Read by Terraform (infra/modules/bigquery: one view per archive table).
SELECT * EXCEPT (copy)
FROM (
  SELECT
    *,
    ROW_NUMBER() OVER (
      PARTITION BY COALESCE(JSON_VALUE(attributes, '$.finding_id'), JSON_VALUE(data, '$.id'), message_id)
      ORDER BY publish_time, message_id
    ) AS copy
  FROM `${project}.${dataset}.${table}`
)
WHERE copy = 1
