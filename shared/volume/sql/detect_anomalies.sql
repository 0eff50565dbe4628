-- Asks the model about the closed hours in [@from_hour, @to_hour) (volume-monitor, on a tick),
-- records the anomalous ones in the volume_anomalies table (once: MERGE on series and hour, so a
-- repeated tick adds nothing, and retraining leaves them out), then returns the flagged hours of
-- the window. Hours inside the model's training window come back with is_anomaly NULL and are
-- not flagged. The same minimum change as the in-code detector applies (DESIGN §3: tiny
-- night-time counts do not page anyone). `expected` is the middle of the model's interval.
MERGE `${project}.${dataset}.${anomalies_table}` AS flagged
USING (
  SELECT
    series,
    hour,
    value AS actual,
    (lower_bound + upper_bound) / 2 AS expected,
    lower_bound,
    upper_bound,
    anomaly_probability AS probability
  FROM ML.DETECT_ANOMALIES(
    MODEL `${project}.${dataset}.${model}`,
    STRUCT(${anomaly_prob_threshold} AS anomaly_prob_threshold),
    (
      SELECT series, hour, value
      FROM `${project}.${dataset}.${view}`
      WHERE hour >= @from_hour AND hour < @to_hour
    )
  )
  WHERE is_anomaly
    AND ABS(value - (lower_bound + upper_bound) / 2) >= ${min_relative_change} * ABS((lower_bound + upper_bound) / 2)
    -- The minimum absolute change is in events: not for the ratio, nor for revenue (cents).
    AND (series IN ('scan_to_crm', 'revenue_usd') OR ABS(value - (lower_bound + upper_bound) / 2) >= ${min_absolute_change})
) AS found
ON flagged.series = found.series AND flagged.hour = found.hour
WHEN NOT MATCHED THEN
  INSERT (series, hour, expected, actual, lower_bound, upper_bound, probability, flagged_at)
  VALUES (found.series, found.hour, found.expected, found.actual, found.lower_bound, found.upper_bound, found.probability, CURRENT_TIMESTAMP());

SELECT series, hour, expected, actual, lower_bound, upper_bound, probability
FROM `${project}.${dataset}.${anomalies_table}`
WHERE hour >= @from_hour AND hour < @to_hour
ORDER BY hour, series;
