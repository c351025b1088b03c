//! `kurtosis(x)`: how heavy-tailed (impulsive) the values are; the classic early indicator of
//! rolling-element bearing damage.
//!
//! Formula (Pearson, not excess, population; as `scipy.stats.kurtosis(fisher=False, bias=True)`):
//! `n · M4 / M2²` with `M2 = Σ(x−x̄)²`, `M4 = Σ(x−x̄)⁴`; 3 for a normal distribution, 1.5 for a
//! sine. State and merge: see `moments.rs`. NULL for fewer than two values or a constant signal.

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;

use super::moments::Moments;
use super::stat::Stat;
use super::FunctionDoc;

/// Documentation.
pub const DOC: FunctionDoc = FunctionDoc {
    name: "kurtosis",
    signature: "kurtosis(x DOUBLE) -> DOUBLE",
    formula: "n · Σ(x−x̄)⁴ / (Σ(x−x̄)²)²",
    description:
        "Kurtosis (Pearson, population): 3 for Gaussian noise, higher for impulsive signals.",
    example: &[2.0, -1.0, 3.5, 0.5, -2.5, 4.0, 1.0],
    takes_time: false,
    sql_args: "",
};

/// State of `kurtosis`.
#[derive(Debug, Default, Clone)]
pub struct Kurtosis(Moments);

impl Stat for Kurtosis {
    fn state_fields() -> Vec<(&'static str, DataType)> {
        Moments::fields()
    }
    fn add(&mut self, x: f64, _t: i64) {
        self.0.add(x);
    }
    fn merge_row(&mut self, s: &[ArrayRef], row: usize) {
        self.0.merge(&Moments::from_row(s, row));
    }
    fn state(&self) -> Vec<ScalarValue> {
        self.0.state()
    }
    fn value(&self) -> Option<f64> {
        let m = &self.0;
        (m.n >= 2.0 && m.m2 > 0.0).then(|| m.n * m.m4 / (m.m2 * m.m2))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{eval, SAMPLE};
    use super::*;

    #[test]
    fn reference_and_edges() {
        // scipy 1.17.1: scipy.stats.kurtosis(x, fisher=False, bias=True)
        assert!((eval::<Kurtosis>(SAMPLE).unwrap() - 1.8987385824068952).abs() < 1e-12);
        assert_eq!(eval::<Kurtosis>(&[]), None);
        assert_eq!(eval::<Kurtosis>(&[1.0]), None);
        assert_eq!(eval::<Kurtosis>(&[2.0, 2.0]), None);
        // two distinct values: M4 n / M2² = 1 exactly
        assert_eq!(eval::<Kurtosis>(&[-1.0, 1.0, f64::INFINITY]), Some(1.0));
    }
}
