//! `skewness(x)`: asymmetry of the value distribution over the window.
//!
//! Formula (population, biased, as `scipy.stats.skew(bias=True)`): `g1 = sqrt(n) · M3 / M2^(3/2)`
//! with `M2 = Σ(x−x̄)²`, `M3 = Σ(x−x̄)³`. State and merge: see `moments.rs`. NULL for fewer than
//! two values or a constant signal (M2 = 0).

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;

use super::moments::Moments;
use super::stat::Stat;
use super::FunctionDoc;

/// Documentation.
pub const DOC: FunctionDoc = FunctionDoc {
    name: "skewness",
    signature: "skewness(x DOUBLE) -> DOUBLE",
    formula: "sqrt(n) · Σ(x−x̄)³ / (Σ(x−x̄)²)^(3/2)",
    description: "Skewness (population): 0 for a symmetric distribution.",
    example: &[2.0, -1.0, 3.5, 0.5, -2.5, 4.0, 1.0],
    takes_time: false,
    sql_args: "",
};

/// State of `skewness`.
#[derive(Debug, Default, Clone)]
pub struct Skewness(Moments);

impl Stat for Skewness {
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
        (m.n >= 2.0 && m.m2 > 0.0).then(|| m.n.sqrt() * m.m3 / m.m2.powf(1.5))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{eval, SAMPLE};
    use super::*;

    #[test]
    fn reference_and_edges() {
        // scipy 1.17.1: scipy.stats.skew(x, bias=True)
        assert!((eval::<Skewness>(SAMPLE).unwrap() - -0.20343978747634825).abs() < 1e-12);
        assert_eq!(eval::<Skewness>(&[]), None);
        assert_eq!(eval::<Skewness>(&[1.0]), None);
        assert_eq!(eval::<Skewness>(&[4.0, 4.0, 4.0]), None);
        assert_eq!(eval::<Skewness>(&[1.0, 2.0, 3.0, f64::NAN]), Some(0.0));
    }
}
