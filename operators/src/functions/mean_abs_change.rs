//! `mean_abs_change(x, ts)`: the mean absolute difference between consecutive readings in
//! event-time order; grows with looseness, chatter and noisy sensors.
//!
//! Formula: `Σ |x_{i+1} − x_i| / (n − 1)` with readings sorted by event time. State: the
//! window's points (see `series.rs`). NULL for fewer than two values.

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;

use super::series::Series;
use super::stat::Stat;
use super::FunctionDoc;

/// Documentation.
pub const DOC: FunctionDoc = FunctionDoc {
    name: "mean_abs_change",
    signature: "mean_abs_change(x DOUBLE, ts TIMESTAMP) -> DOUBLE",
    formula: "Σ |x_{i+1} − x_i| / (n − 1), x sorted by ts",
    description: "Mean absolute change between consecutive readings.",
    example: &[2.0, -1.0, 3.5, 0.5, -2.5, 4.0, 1.0],
    takes_time: true,
    sql_args: "",
};

/// State of `mean_abs_change`.
#[derive(Debug, Default, Clone)]
pub struct MeanAbsChange(Series);

impl Stat for MeanAbsChange {
    fn state_fields() -> Vec<(&'static str, DataType)> {
        Series::fields()
    }
    fn add(&mut self, x: f64, t: i64) {
        self.0.add(x, t);
    }
    fn merge_row(&mut self, s: &[ArrayRef], row: usize) {
        self.0.merge_row(s, row);
    }
    fn state(&self) -> Vec<ScalarValue> {
        self.0.state()
    }
    fn value(&self) -> Option<f64> {
        let x = self.0.ordered();
        if x.len() < 2 {
            return None;
        }
        let total: f64 = x.windows(2).map(|w| (w[1] - w[0]).abs()).sum();
        Some(total / (x.len() - 1) as f64)
    }
    fn heap_size(&self) -> usize {
        self.0.heap_size()
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{eval_t, SAMPLE, SAMPLE_TIMES};
    use super::*;

    #[test]
    fn reference_and_edges() {
        // numpy 2.4.6: np.mean(np.abs(np.diff(x)))
        let mut pts: Vec<(f64, i64)> = SAMPLE
            .iter()
            .copied()
            .zip(SAMPLE_TIMES.iter().copied())
            .collect();
        pts.swap(0, 5);
        assert!((eval_t::<MeanAbsChange>(&pts).unwrap() - 3.8333333333333335).abs() < 1e-12);
        assert_eq!(eval_t::<MeanAbsChange>(&[]), None);
        assert_eq!(eval_t::<MeanAbsChange>(&[(4.0, 0)]), None);
        assert_eq!(
            eval_t::<MeanAbsChange>(&[(4.0, 0), (4.0, 1), (4.0, 2)]),
            Some(0.0)
        );
        assert_eq!(
            eval_t::<MeanAbsChange>(&[(1.0, 0), (f64::INFINITY, 1), (3.0, 2)]),
            Some(2.0)
        );
    }
}
