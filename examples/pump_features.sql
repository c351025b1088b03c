-- Features of one pump over one window: the same SQL runs in the stream (once per window close,
-- over all assets) and in `vigil train`. One row per asset; every other column is a feature.
SELECT
    asset_id,
    avg(vibration_rms)                          AS vib_mean,
    stddev(vibration_rms)                       AS vib_std,
    max(vibration_rms)                          AS vib_max,
    avg(bearing_temp)                           AS temp_mean,
    max(bearing_temp) - min(bearing_temp)       AS temp_range,
    avg(discharge_pressure)                     AS pressure_mean,
    stddev(discharge_pressure)                  AS pressure_std,
    avg(motor_current)                          AS current_mean,
    avg(flow)                                   AS flow_mean,
    -- from the vibration waveform snapshots: bearing defect envelope, high-band energy, centroid
    avg(envelope_band_energy(vibration, vibration_rate_hz, 75, 105)) AS bearing_envelope,
    avg(band_energy(vibration, vibration_rate_hz, 400, 1280))          AS vib_high_band,
    avg(spectral_centroid(vibration, vibration_rate_hz))               AS vib_centroid,
    kurtosis(vibration_rms)                                            AS vib_kurtosis
FROM readings
GROUP BY asset_id
