-- NAB features per stream over each 24-hour window: level, spread, extremes, trend and how many
-- readings arrived (gaps in a metric's reporting are part of what a failing system looks like).
SELECT asset_id,
       avg(value) AS level,
       stddev_pop(value) AS spread,
       min(value) AS low,
       max(value) AS high,
       slope(value, ts) AS trend,
       CAST(count(value) AS DOUBLE) AS readings
FROM readings
GROUP BY asset_id
