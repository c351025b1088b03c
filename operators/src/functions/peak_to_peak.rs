//! `peak_to_peak(x)`: the range of a signal over the window.
//!
//! Formula: `max(x) − min(x)` over the finite values. State: `n`, min, max (merge: min of mins,
//! max of maxes). NULL for no values.

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;

use super::stat::{f64_at, Stat};
use super::FunctionDoc;

/// Documentation.
pub const DOC: FunctionDoc = FunctionDoc {
    name: "peak_to_peak",
    signature: "peak_to_peak(x DOUBLE) -> DOUBLE",
    formula: "max(x) − min(x)",
    description: "Peak-to-peak amplitude: the swing of a signal over the window.",
    example: &[2.0, -1.0, 3.5, 0.5, -2.5, 4.0, 1.0],
    takes_time: false,
    sql_args: "",
};

/// State of `peak_to_peak`.
#[derive(Debug, Default, Clone)]
pub struct PeakToPeak {
    n: f64,
    min: f64,
    max: f64,
}

impl PeakToPeak {
    fn merge(&mut self, n: f64, min: f64, max: f64) {
        if n == 0.0 {
            return;
        }
        if self.n == 0.0 {
            (self.min, self.max) = (min, max);
        } else {
            self.min = self.min.min(min);
            self.max = self.max.max(max);
        }
        self.n += n;
    }
}

impl Stat for PeakToPeak {
    fn state_fields() -> Vec<(&'static str, DataType)> {
        vec![
            ("n", DataType::Float64),
            ("min", DataType::Float64),
            ("max", DataType::Float64),
        ]
    }
    fn add(&mut self, x: f64, _t: i64) {
        self.merge(1.0, x, x);
    }
    fn merge_row(&mut self, s: &[ArrayRef], row: usize) {
        self.merge(f64_at(s, 0, row), f64_at(s, 1, row), f64_at(s, 2, row));
    }
    fn state(&self) -> Vec<ScalarValue> {
        [self.n, self.min, self.max]
            .into_iter()
            .map(|v| ScalarValue::Float64(Some(v)))
            .collect()
    }
    fn value(&self) -> Option<f64> {
        (self.n > 0.0).then(|| self.max - self.min)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{eval, SAMPLE};
    use super::*;

    #[test]
    fn reference_and_edges() {
        // numpy 2.4.6: np.ptp(x)
        assert_eq!(eval::<PeakToPeak>(SAMPLE), Some(6.5));
        assert_eq!(eval::<PeakToPeak>(&[]), None);
        assert_eq!(eval::<PeakToPeak>(&[7.0]), Some(0.0));
        assert_eq!(eval::<PeakToPeak>(&[1.5, 1.5]), Some(0.0));
        assert_eq!(
            eval::<PeakToPeak>(&[f64::NEG_INFINITY, 1.0, 3.0, f64::NAN]),
            Some(2.0)
        );
    }
}
