-- The ARIMA_PLUS model of DESIGN §3, one time series per `series` of the hourly view, trained on
-- the last ${training_days} days of closed hours, leaving out every hour already flagged (the
-- volume_anomalies table): an incident must not become the new normal. Terraform runs it once
-- (google_bigquery_job) and a scheduled query runs it daily; CREATE OR REPLACE keeps one model.
CREATE OR REPLACE MODEL `${project}.${dataset}.${model}`
OPTIONS (
  model_type = 'ARIMA_PLUS',
  time_series_timestamp_col = 'hour',
  time_series_data_col = 'value',
  time_series_id_col = 'series',
  data_frequency = 'HOURLY',
  clean_spikes_and_dips = TRUE,
  adjust_step_changes = TRUE,
  decompose_time_series = TRUE
) AS
SELECT s.series, s.hour, s.value
FROM `${project}.${dataset}.${view}` AS s
WHERE s.hour >= TIMESTAMP_SUB(TIMESTAMP_TRUNC(CURRENT_TIMESTAMP(), HOUR), INTERVAL ${training_days} DAY)
  -- Closed hours only: the current hour and the one before may still be filling.
  AND s.hour < TIMESTAMP_SUB(TIMESTAMP_TRUNC(CURRENT_TIMESTAMP(), HOUR), INTERVAL 1 HOUR)
  AND NOT EXISTS (
    SELECT 1
    FROM `${project}.${dataset}.${anomalies_table}` AS flagged
    WHERE flagged.series = s.series AND flagged.hour = s.hour
  )
