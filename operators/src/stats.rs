//! Per-asset, per-measurement value statistics (min, max, count) of a pane or window.
//!
//! These are computed natively while readings are stored, independent of the feature SQL, and
//! feed the stuck-sensor check: a measurement is constant over a window when its min equals its
//! max. Measurements are the `Float64` columns of the readings batch, in column order.

use std::collections::HashMap;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::Float64Type;
use serde::{Deserialize, Serialize};
use vigil_schemas::ASSET_COL;

/// Min, max and count of one measurement's finite values (min and max are 0 while count is 0,
/// so the state is always finite and serializable).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct MinMax {
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Number of values.
    pub count: u64,
}

impl MinMax {
    fn add(&mut self, v: f64) {
        if self.count == 0 {
            (self.min, self.max) = (v, v);
        } else {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        self.count += 1;
    }

    fn merge(&mut self, o: &MinMax) {
        if o.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = *o;
            return;
        }
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        self.count += o.count;
    }

    /// True when there is at least one value and all values are equal.
    pub fn is_constant(&self) -> bool {
        self.count > 0 && self.min == self.max
    }
}

/// Statistics per asset, one [`MinMax`] per measurement column.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ValueStats {
    /// Measurement column names, in the order of each asset's vector.
    pub measurements: Vec<String>,
    /// Per asset.
    pub by_asset: HashMap<String, Vec<MinMax>>,
}

impl ValueStats {
    /// Adds rows `rows` of a readings batch.
    pub fn add_rows(&mut self, batch: &RecordBatch, rows: &[u32]) {
        let schema = batch.schema();
        let cols: Vec<(String, usize)> = schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| vigil_schemas::decode::is_measurement(f))
            .map(|(i, f)| (f.name().clone(), i))
            .collect();
        if self.measurements.is_empty() {
            self.measurements = cols.iter().map(|c| c.0.clone()).collect();
        }
        let Some(asset) = batch.column_by_name(ASSET_COL) else {
            return;
        };
        let Some(asset) = asset.as_string_opt::<i32>() else {
            return;
        };
        let values: Vec<_> = cols
            .iter()
            .map(|(_, i)| batch.column(*i).as_primitive::<Float64Type>())
            .collect();
        let n = values.len();
        for &r in rows {
            let r = r as usize;
            let a = asset.value(r);
            let entry = match self.by_asset.get_mut(a) {
                Some(e) => e,
                None => self
                    .by_asset
                    .entry(a.to_string())
                    .or_insert_with(|| vec![MinMax::default(); n]),
            };
            for (j, col) in values.iter().enumerate() {
                if col.is_valid(r) {
                    let v = col.value(r);
                    if v.is_finite() {
                        entry[j].add(v);
                    }
                }
            }
        }
    }

    /// Merges another statistics set (same measurement columns) into this one.
    pub fn merge(&mut self, other: &ValueStats) {
        if self.measurements.is_empty() {
            self.measurements = other.measurements.clone();
        }
        for (a, v) in &other.by_asset {
            let e = self
                .by_asset
                .entry(a.clone())
                .or_insert_with(|| vec![MinMax::default(); v.len()]);
            for (x, y) in e.iter_mut().zip(v) {
                x.merge(y);
            }
        }
    }

    /// True when no asset is recorded.
    pub fn is_empty(&self) -> bool {
        self.by_asset.is_empty()
    }
}
