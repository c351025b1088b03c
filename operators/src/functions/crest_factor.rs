//! `crest_factor(x)`: how peaky a signal is; rises early with bearing spalls and gear tooth
//! damage, before the RMS does.
//!
//! Formula: `max |x| / sqrt(Σ x² / n)`. State: `n`, `Σx²`, `max |x|` (merge: add, add, max).
//! NULL for no values or an all-zero signal (RMS 0).

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;

use super::stat::{f64_at, Stat};
use super::FunctionDoc;

/// Documentation.
pub const DOC: FunctionDoc = FunctionDoc {
    name: "crest_factor",
    signature: "crest_factor(x DOUBLE) -> DOUBLE",
    formula: "max |x| / sqrt(Σ x² / n)",
    description:
        "Crest factor: peak over RMS; 1 for a constant, √2 for a sine, high for impulsive signals.",
    example: &[2.0, -1.0, 3.5, 0.5, -2.5, 4.0, 1.0],
    takes_time: false,
    sql_args: "",
};

/// State of `crest_factor`.
#[derive(Debug, Default, Clone)]
pub struct CrestFactor {
    n: f64,
    sum_sq: f64,
    max_abs: f64,
}

impl Stat for CrestFactor {
    fn state_fields() -> Vec<(&'static str, DataType)> {
        vec![
            ("n", DataType::Float64),
            ("sum_sq", DataType::Float64),
            ("max_abs", DataType::Float64),
        ]
    }
    fn add(&mut self, x: f64, _t: i64) {
        self.n += 1.0;
        self.sum_sq += x * x;
        self.max_abs = self.max_abs.max(x.abs());
    }
    fn merge_row(&mut self, s: &[ArrayRef], row: usize) {
        self.n += f64_at(s, 0, row);
        self.sum_sq += f64_at(s, 1, row);
        self.max_abs = self.max_abs.max(f64_at(s, 2, row));
    }
    fn state(&self) -> Vec<ScalarValue> {
        [self.n, self.sum_sq, self.max_abs]
            .into_iter()
            .map(|v| ScalarValue::Float64(Some(v)))
            .collect()
    }
    fn value(&self) -> Option<f64> {
        let rms = (self.sum_sq / self.n).sqrt();
        (self.n > 0.0 && rms > 0.0).then(|| self.max_abs / rms)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{eval, SAMPLE};
    use super::*;

    #[test]
    fn reference_and_edges() {
        // numpy 2.4.6: np.max(np.abs(x)) / np.sqrt(np.mean(x**2))
        assert!((eval::<CrestFactor>(SAMPLE).unwrap() - 1.6578498899685434).abs() < 1e-12);
        assert_eq!(eval::<CrestFactor>(&[]), None);
        assert_eq!(eval::<CrestFactor>(&[-2.0]), Some(1.0));
        assert_eq!(eval::<CrestFactor>(&[3.0, 3.0]), Some(1.0));
        assert_eq!(
            eval::<CrestFactor>(&[0.0, 0.0]),
            None,
            "all-zero signal has no crest factor"
        );
        assert_eq!(eval::<CrestFactor>(&[f64::NAN, 5.0]), Some(1.0));
    }
}
