//! `zero_crossing_rate(x, ts)`: the share of consecutive readings (in event-time order) between
//! which the signal changes sign; apply it to a signal centred on zero (e.g. a vibration
//! acceleration) to see its dominant frequency move.
//!
//! Formula: `#{i : (x_i ≥ 0) ≠ (x_{i+1} ≥ 0)} / (n − 1)` with readings sorted by event time
//! (zero counts as positive). State: the window's points (see `series.rs`). NULL for fewer
//! than two values.

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;

use super::series::Series;
use super::stat::Stat;
use super::FunctionDoc;

/// Documentation.
pub const DOC: FunctionDoc = FunctionDoc {
    name: "zero_crossing_rate",
    signature: "zero_crossing_rate(x DOUBLE, ts TIMESTAMP) -> DOUBLE",
    formula: "#{i : (x_i ≥ 0) ≠ (x_{i+1} ≥ 0)} / (n − 1), x sorted by ts",
    description: "Share of consecutive readings between which the sign changes.",
    example: &[2.0, -1.0, 3.5, 0.5, -2.5, 4.0, 1.0],
    takes_time: true,
    sql_args: "",
};

/// State of `zero_crossing_rate`.
#[derive(Debug, Default, Clone)]
pub struct ZeroCrossingRate(Series);

impl Stat for ZeroCrossingRate {
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
        let crossings = x
            .windows(2)
            .filter(|w| (w[0] >= 0.0) != (w[1] >= 0.0))
            .count();
        Some(crossings as f64 / (x.len() - 1) as f64)
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
        // numpy 2.4.6: s = x >= 0; np.sum(s[1:] != s[:-1]) / (len(x) - 1)
        let mut pts: Vec<(f64, i64)> = SAMPLE
            .iter()
            .copied()
            .zip(SAMPLE_TIMES.iter().copied())
            .collect();
        pts.reverse(); // arrival order does not matter
        assert!((eval_t::<ZeroCrossingRate>(&pts).unwrap() - 0.6666666666666666).abs() < 1e-15);
        assert_eq!(eval_t::<ZeroCrossingRate>(&[]), None);
        assert_eq!(eval_t::<ZeroCrossingRate>(&[(1.0, 0)]), None);
        assert_eq!(
            eval_t::<ZeroCrossingRate>(&[(-1.0, 0), (-1.0, 1)]),
            Some(0.0)
        );
        assert_eq!(
            eval_t::<ZeroCrossingRate>(&[(1.0, 0), (f64::NAN, 1), (-1.0, 2)]),
            Some(1.0)
        );
    }
}
