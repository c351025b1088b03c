-- C-MAPSS FD002 features per engine over the last 120 cycles, on sensors already normalised
-- per operating regime ([conditions] in job.toml): each sensor's level, spread, extremes and
-- trend, and the engine's age.
SELECT asset_id,
       max(cycle) AS age,
       CAST(count(cycle) AS DOUBLE) AS cycles,
       avg(s2) AS s2, stddev_pop(s2) AS s2_sd, min(s2) AS s2_min, max(s2) AS s2_max, slope(s2, ts) AS s2_trend,
       avg(s3) AS s3, stddev_pop(s3) AS s3_sd, min(s3) AS s3_min, max(s3) AS s3_max, slope(s3, ts) AS s3_trend,
       avg(s4) AS s4, stddev_pop(s4) AS s4_sd, min(s4) AS s4_min, max(s4) AS s4_max, slope(s4, ts) AS s4_trend,
       avg(s7) AS s7, stddev_pop(s7) AS s7_sd, min(s7) AS s7_min, max(s7) AS s7_max, slope(s7, ts) AS s7_trend,
       avg(s8) AS s8, stddev_pop(s8) AS s8_sd, min(s8) AS s8_min, max(s8) AS s8_max, slope(s8, ts) AS s8_trend,
       avg(s9) AS s9, stddev_pop(s9) AS s9_sd, min(s9) AS s9_min, max(s9) AS s9_max, slope(s9, ts) AS s9_trend,
       avg(s11) AS s11, stddev_pop(s11) AS s11_sd, min(s11) AS s11_min, max(s11) AS s11_max, slope(s11, ts) AS s11_trend,
       avg(s12) AS s12, stddev_pop(s12) AS s12_sd, min(s12) AS s12_min, max(s12) AS s12_max, slope(s12, ts) AS s12_trend,
       avg(s13) AS s13, stddev_pop(s13) AS s13_sd, min(s13) AS s13_min, max(s13) AS s13_max, slope(s13, ts) AS s13_trend,
       avg(s14) AS s14, stddev_pop(s14) AS s14_sd, min(s14) AS s14_min, max(s14) AS s14_max, slope(s14, ts) AS s14_trend,
       avg(s15) AS s15, stddev_pop(s15) AS s15_sd, min(s15) AS s15_min, max(s15) AS s15_max, slope(s15, ts) AS s15_trend,
       avg(s17) AS s17, stddev_pop(s17) AS s17_sd, min(s17) AS s17_min, max(s17) AS s17_max, slope(s17, ts) AS s17_trend,
       avg(s20) AS s20, stddev_pop(s20) AS s20_sd, min(s20) AS s20_min, max(s20) AS s20_max, slope(s20, ts) AS s20_trend,
       avg(s21) AS s21, stddev_pop(s21) AS s21_sd, min(s21) AS s21_min, max(s21) AS s21_max, slope(s21, ts) AS s21_trend
FROM readings
GROUP BY asset_id
