-- C-MAPSS features per engine over the last 50 cycles: each degrading sensor's level and trend,
-- and the engine's age (cycles flown so far).
SELECT asset_id,
       max(cycle) AS age,
       avg(s2) AS s2, slope(s2, ts) AS s2_trend,
       avg(s3) AS s3, slope(s3, ts) AS s3_trend,
       avg(s4) AS s4, slope(s4, ts) AS s4_trend,
       avg(s7) AS s7, slope(s7, ts) AS s7_trend,
       avg(s8) AS s8, slope(s8, ts) AS s8_trend,
       avg(s9) AS s9, slope(s9, ts) AS s9_trend,
       avg(s11) AS s11, slope(s11, ts) AS s11_trend,
       avg(s12) AS s12, slope(s12, ts) AS s12_trend,
       avg(s13) AS s13, slope(s13, ts) AS s13_trend,
       avg(s14) AS s14, slope(s14, ts) AS s14_trend,
       avg(s15) AS s15, slope(s15, ts) AS s15_trend,
       avg(s17) AS s17, slope(s17, ts) AS s17_trend,
       avg(s20) AS s20, slope(s20, ts) AS s20_trend,
       avg(s21) AS s21, slope(s21, ts) AS s21_trend
FROM readings
GROUP BY asset_id
