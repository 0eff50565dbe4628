-- The hourly series of DESIGN §3 over the archive of accepted events (the BigQuery subscription
-- on events-unique writes one row per message; `data` is the CloudEvent JSON): for each event
-- type, the count of distinct events per UTC hour of event time, every hour from the type's first
-- one to the current hour (an hour without events is 0: a producer that stopped is seen); and
-- scan_to_crm, the hour's crm.synced count over its card.scanned count, for hours with at least
-- ${min_scans} scans; and revenue_usd, the hour's sum of accepted sale.recorded amount_usd (US cents),
-- every hour from the first sale on (an hour without sales is 0). Read by Terraform (the view) and by the code's tests; the model and the
-- detection query select from the view, never from the archive.
-- Only the partitions of the last ${archive_scan_days} days of publish_time are read (the archive
-- is partitioned on it, and a filter on CURRENT_TIMESTAMP prunes them): every hourly detection
-- and every daily training then scans a bounded slice, not the whole archive. It covers the
-- training window (an event is published at most minutes before its time: validation allows
-- 5 minutes of clock skew) plus a day.
WITH events AS (
  SELECT
    JSON_VALUE(data, '$.type') AS type,
    TIMESTAMP_TRUNC(SAFE_CAST(JSON_VALUE(data, '$.time') AS TIMESTAMP), HOUR) AS hour,
    JSON_VALUE(data, '$.id') AS id,
    SAFE_CAST(JSON_VALUE(data, '$.data.amount_usd') AS INT64) AS amount_usd
  FROM `${project}.${dataset}.${archive_table}`
  WHERE publish_time >= TIMESTAMP_SUB(TIMESTAMP_TRUNC(CURRENT_TIMESTAMP(), DAY), INTERVAL ${archive_scan_days} DAY)
),
counts AS (
  -- Pub/Sub delivers at least once: an event archived twice counts once.
  SELECT type, hour, COUNT(DISTINCT id) AS n
  FROM events
  WHERE type IS NOT NULL AND hour IS NOT NULL
  GROUP BY type, hour
),
firsts AS (
  SELECT type, MIN(hour) AS first_hour FROM counts GROUP BY type
),
hours AS (
  SELECT hour
  FROM UNNEST(GENERATE_TIMESTAMP_ARRAY(
    (SELECT MIN(hour) FROM counts),
    TIMESTAMP_TRUNC(CURRENT_TIMESTAMP(), HOUR),
    INTERVAL 1 HOUR)) AS hour
),
typed AS (
  SELECT f.type AS series, h.hour, CAST(IFNULL(c.n, 0) AS FLOAT64) AS value
  FROM firsts AS f
  JOIN hours AS h ON h.hour >= f.first_hour
  LEFT JOIN counts AS c ON c.type = f.type AND c.hour = h.hour
),
ratio AS (
  SELECT
    'scan_to_crm' AS series,
    hour,
    SUM(IF(type = 'crm.synced', n, 0)) / SUM(IF(type = 'card.scanned', n, 0)) AS value
  FROM counts
  GROUP BY hour
  HAVING SUM(IF(type = 'card.scanned', n, 0)) >= ${min_scans}
),
sales AS (
  -- Each sale once, however often it was archived.
  SELECT hour, ANY_VALUE(amount_usd) AS amount_usd
  FROM events
  WHERE type = 'sale.recorded' AND hour IS NOT NULL
  GROUP BY id, hour
),
revenue AS (
  SELECT
    'revenue_usd' AS series,
    h.hour,
    CAST(IFNULL(SUM(s.amount_usd), 0) AS FLOAT64) AS value
  FROM hours AS h
  LEFT JOIN sales AS s ON s.hour = h.hour
  WHERE h.hour >= (SELECT MIN(hour) FROM sales)
  GROUP BY h.hour
)
SELECT series, hour, value FROM typed
UNION ALL
SELECT series, hour, value FROM ratio
UNION ALL
SELECT series, hour, value FROM revenue
