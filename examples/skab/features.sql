-- SKAB features per 5 s window: the level of every sensor and the spread of the fast ones.
SELECT asset_id,
       avg(accel1) AS accel1, avg(accel2) AS accel2, avg(current) AS current,
       avg(pressure) AS pressure, avg(temperature) AS temperature,
       avg(thermocouple) AS thermocouple, avg(voltage) AS voltage, avg(flow) AS flow,
       stddev_pop(accel1) AS accel1_sd, stddev_pop(current) AS current_sd, stddev_pop(flow) AS flow_sd
FROM readings
GROUP BY asset_id
