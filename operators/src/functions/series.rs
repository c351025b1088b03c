//! Time-ordered series state, shared by the order-dependent functions (`zero_crossing_rate`,
//! `mean_abs_change`).
//!
//! Readings reach an aggregate in arrival order, not event-time order, and panes are reduced
//! separately; so these functions keep their `(t, x)` points (state: one binary field of packed
//! little-endian `i64` time and `f64` value pairs; merge: concatenate) and sort them by time
//! (then value, so ties never depend on arrival order) when the window is evaluated. Their
//! state grows with the readings in the window, unlike the moment-based functions.

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;

/// The points of a window.
#[derive(Debug, Default, Clone)]
pub struct Series {
    points: Vec<(i64, f64)>,
}

impl Series {
    /// State fields.
    pub fn fields() -> Vec<(&'static str, DataType)> {
        vec![("points", DataType::Binary)]
    }

    /// Adds one point.
    pub fn add(&mut self, x: f64, t: i64) {
        self.points.push((t, x));
    }

    /// Merges a packed state row.
    pub fn merge_row(&mut self, s: &[ArrayRef], row: usize) {
        let Some(col) = s.first().and_then(|c| c.as_binary_opt::<i32>()) else {
            return;
        };
        if col.is_null(row) {
            return;
        }
        for chunk in col.value(row).chunks_exact(16) {
            let (t, x) = chunk.split_at(8);
            let t = i64::from_le_bytes(t.try_into().unwrap_or([0; 8]));
            let x = f64::from_le_bytes(x.try_into().unwrap_or([0; 8]));
            self.points.push((t, x));
        }
    }

    /// The packed state.
    pub fn state(&self) -> Vec<ScalarValue> {
        let mut bytes = Vec::with_capacity(self.points.len() * 16);
        for (t, x) in &self.points {
            bytes.extend_from_slice(&t.to_le_bytes());
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        vec![ScalarValue::Binary(Some(bytes))]
    }

    /// Values in event-time order.
    pub fn ordered(&self) -> Vec<f64> {
        let mut p = self.points.clone();
        p.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        p.into_iter().map(|(_, x)| x).collect()
    }

    /// Heap bytes.
    pub fn heap_size(&self) -> usize {
        self.points.capacity() * 16
    }
}
