-- Feature SQL shared by the golden cases.
SELECT asset_id,
       count(*)      AS n,
       avg(temp)     AS temp_mean,
       min(temp)     AS temp_min,
       max(temp)     AS temp_max,
       avg(vib)      AS vib_mean
FROM readings
GROUP BY asset_id
