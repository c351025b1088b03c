//! Data-quality checks: silent sensors and stuck sensors, per asset and measurement.
//!
//! *Silent:* a measurement of an asset that has reported before and then has no (finite) value
//! for `silent_after` of event time, measured against the watermark. Because the watermark
//! advances with the wall clock when the whole input is idle (see [`crate::watermark`]), a dead
//! gateway makes every sensor behind it silent too; the event records whether the watermark was
//! wall-clock driven. *Stuck:* a measurement whose values stay exactly equal (min == max) over
//! `stuck_windows` consecutive closed windows that contain it. Each problem is reported once
//! when it starts; it is re-armed when the sensor reports again (silent) or changes (stuck).
//! Pure state machine: inputs are batches, watermarks and closed windows, output is events.

use std::collections::HashMap;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::Float64Type;
use serde::{Deserialize, Serialize};
use vigil_schemas::ASSET_COL;

use crate::windows::ClosedWindow;

/// Which checks run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QualityConfig {
    /// Report a measurement silent after this much event time without a value, ms.
    pub silent_after_ms: Option<i64>,
    /// Report a measurement stuck after this many consecutive constant windows.
    pub stuck_windows: Option<u32>,
}

/// What is wrong with a sensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum Problem {
    /// No value for too long.
    Silent {
        /// Event time of the last value, UTC ms.
        last_seen: i64,
        /// Event time without a value when detected, ms.
        silent_for_ms: i64,
        /// The watermark was advanced by the wall clock (the whole input was idle).
        wall_clock: bool,
    },
    /// The same value over several windows.
    Stuck {
        /// The constant value.
        value: f64,
        /// Consecutive constant windows.
        windows: u32,
        /// Start of the first constant window, UTC ms.
        since: i64,
    },
}

/// One data-quality finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityEvent {
    /// The asset.
    pub asset_id: String,
    /// The measurement (column name).
    pub measurement: String,
    /// Event time of the detection (watermark or window end), UTC ms.
    pub at: i64,
    /// The problem.
    pub problem: Problem,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct Sensor {
    last_seen: Option<i64>,
    silent: bool,
    run: u32,
    run_value: f64,
    run_since: i64,
    stuck: bool,
}

/// Per-sensor data-quality state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct QualityTracker {
    cfg: QualityConfig,
    measurements: Vec<String>,
    sensors: HashMap<String, Vec<Sensor>>,
    next_silent_check: Option<i64>,
}

impl QualityTracker {
    /// A tracker running the configured checks.
    pub fn new(cfg: QualityConfig) -> Self {
        QualityTracker {
            cfg,
            ..Default::default()
        }
    }

    /// This tracker's state under new settings.
    pub fn reconfigured(mut self, cfg: QualityConfig) -> Self {
        self.cfg = cfg;
        self
    }

    /// True when any check is on.
    pub fn enabled(&self) -> bool {
        self.cfg.silent_after_ms.is_some() || self.cfg.stuck_windows.is_some()
    }

    /// Sensors tracked (a memory gauge).
    pub fn sensors(&self) -> usize {
        self.sensors.values().map(Vec::len).sum()
    }

    /// Drops an evicted asset's sensors.
    pub fn forget(&mut self, asset: &str) {
        self.sensors.remove(asset);
    }

    /// Notes the values of rows `rows` (accepted readings) of `batch`.
    pub fn observe(&mut self, batch: &RecordBatch, rows: &[u32], ts: &[i64]) {
        if self.cfg.silent_after_ms.is_none() {
            return;
        }
        let schema = batch.schema();
        let cols: Vec<usize> = (0..schema.fields().len())
            .filter(|i| vigil_schemas::decode::is_measurement(schema.field(*i)))
            .collect();
        if self.measurements.is_empty() {
            self.measurements = cols
                .iter()
                .map(|i| schema.field(*i).name().clone())
                .collect();
        }
        let Some(assets) = batch
            .column_by_name(ASSET_COL)
            .and_then(|c| c.as_string_opt::<i32>())
        else {
            return;
        };
        let values: Vec<_> = cols
            .iter()
            .map(|i| batch.column(*i).as_primitive::<Float64Type>())
            .collect();
        let n = values.len();
        for &r in rows {
            let r = r as usize;
            let a = assets.value(r);
            let sensors = match self.sensors.get_mut(a) {
                Some(s) => s,
                None => self
                    .sensors
                    .entry(a.to_string())
                    .or_insert_with(|| vec![Sensor::default(); n]),
            };
            for (j, col) in values.iter().enumerate() {
                if col.is_valid(r) && col.value(r).is_finite() {
                    let s = &mut sensors[j];
                    s.last_seen = Some(s.last_seen.map_or(ts[r], |l| l.max(ts[r])));
                }
            }
        }
    }

    /// Silent-sensor check at watermark `wm` (runs at most every tenth of `silent_after`).
    pub fn check_silent(&mut self, wm: i64, wall_clock: bool) -> Vec<QualityEvent> {
        let Some(after) = self.cfg.silent_after_ms else {
            return Vec::new();
        };
        if self.next_silent_check.is_some_and(|n| wm < n) {
            return Vec::new();
        }
        self.next_silent_check = Some(wm.saturating_add((after / 10).max(1)));
        let mut out = Vec::new();
        for (asset, sensors) in &mut self.sensors {
            for (j, s) in sensors.iter_mut().enumerate() {
                let Some(last) = s.last_seen else { continue };
                let quiet = wm.saturating_sub(last);
                if quiet >= after {
                    if !s.silent {
                        s.silent = true;
                        out.push(QualityEvent {
                            asset_id: asset.clone(),
                            measurement: self.measurements.get(j).cloned().unwrap_or_default(),
                            at: wm,
                            problem: Problem::Silent {
                                last_seen: last,
                                silent_for_ms: quiet,
                                wall_clock,
                            },
                        });
                    }
                } else {
                    s.silent = false;
                }
            }
        }
        out.sort_by(|a, b| (&a.asset_id, &a.measurement).cmp(&(&b.asset_id, &b.measurement)));
        out
    }

    /// Stuck-sensor check over one closed window.
    pub fn on_window(&mut self, w: &ClosedWindow) -> Vec<QualityEvent> {
        let Some(limit) = self.cfg.stuck_windows else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut assets: Vec<&String> = w.stats.by_asset.keys().collect();
        assets.sort();
        for asset in assets {
            let Some(win) = w.bounds.of(asset) else {
                continue;
            };
            let stats = &w.stats.by_asset[asset];
            let sensors = self
                .sensors
                .entry(asset.clone())
                .or_insert_with(|| vec![Sensor::default(); stats.len()]);
            if sensors.len() < stats.len() {
                sensors.resize(stats.len(), Sensor::default());
            }
            for (j, mm) in stats.iter().enumerate() {
                if mm.count == 0 {
                    continue;
                }
                let s = &mut sensors[j];
                if mm.is_constant() {
                    if s.run > 0 && s.run_value == mm.min {
                        s.run += 1;
                    } else {
                        s.run = 1;
                        s.run_value = mm.min;
                        s.run_since = win.start;
                        s.stuck = false;
                    }
                    if s.run >= limit && !s.stuck {
                        s.stuck = true;
                        out.push(QualityEvent {
                            asset_id: asset.clone(),
                            measurement: w.stats.measurements.get(j).cloned().unwrap_or_default(),
                            at: win.end,
                            problem: Problem::Stuck {
                                value: mm.min,
                                windows: s.run,
                                since: s.run_since,
                            },
                        });
                    }
                } else {
                    s.run = 0;
                    s.stuck = false;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::batch;
    use crate::windows::PaneStore;
    use crate::WindowSpec;

    #[test]
    fn silent_once_per_episode_and_rearmed_by_new_data() {
        let mut q = QualityTracker::new(QualityConfig {
            silent_after_ms: Some(100),
            stuck_windows: None,
        });
        let b = batch(&[("a", 0, 1.0), ("b", 50, f64::NAN), ("b", 60, 2.0)]);
        q.observe(&b, &[0, 1, 2], &[0, 50, 60]);
        assert!(q.check_silent(99, false).is_empty());
        assert!(
            q.check_silent(105, false).is_empty(),
            "checks run every tenth of the limit"
        );
        let ev = q.check_silent(110, false);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].asset_id, "a");
        assert_eq!(ev[0].measurement, "v");
        assert!(q.check_silent(200, true).iter().all(|e| e.asset_id == "b"));
        assert!(q.check_silent(400, false).is_empty(), "reported once");
        q.observe(&batch(&[("a", 390, 1.0)]), &[0], &[390]);
        assert!(q.check_silent(420, false).is_empty());
        assert_eq!(q.check_silent(490, false).len(), 1, "silent again");
    }

    #[test]
    fn stuck_after_n_constant_windows() {
        let mut q = QualityTracker::new(QualityConfig {
            silent_after_ms: None,
            stuck_windows: Some(3),
        });
        let mut s = PaneStore::new(WindowSpec::tumbling(10).unwrap(), true);
        let vals = [5.0, 5.0, 5.0, 5.0, 5.0, 6.0, 7.0];
        let mut events = Vec::new();
        for (i, v) in vals.iter().enumerate() {
            let t = i as i64 * 10;
            s.insert(
                &batch(&[
                    ("a", t, *v),
                    ("a", t + 1, *v),
                    ("b", t, i as f64),
                    ("b", t + 1, 0.5),
                ]),
                &[0, 1, 2, 3],
            )
            .unwrap();
            for w in s.close_until(t + 10) {
                events.extend(q.on_window(&w));
            }
        }
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].asset_id, "a");
        assert_eq!(events[0].at, 30);
        assert_eq!(
            events[0].problem,
            Problem::Stuck {
                value: 5.0,
                windows: 3,
                since: 0
            }
        );
    }
}
