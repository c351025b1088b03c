//! `rms(x)`: root mean square, the overall vibration energy of a window.
//!
//! Formula: `rms = sqrt(Σ x² / n)` over the finite values. State: `n`, `Σx²` (merge: add both).
//! NULL for no values.

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;

use super::stat::{f64_at, Stat};
use super::FunctionDoc;

/// Documentation.
pub const DOC: FunctionDoc = FunctionDoc {
    name: "rms",
    signature: "rms(x DOUBLE) -> DOUBLE",
    formula: "sqrt(Σ x² / n)",
    description: "Root mean square: the energy of a vibration or current signal over the window.",
    example: &[2.0, -1.0, 3.5, 0.5, -2.5, 4.0, 1.0],
    takes_time: false,
    sql_args: "",
};

/// State of `rms`.
#[derive(Debug, Default, Clone)]
pub struct Rms {
    n: f64,
    sum_sq: f64,
}

impl Stat for Rms {
    fn state_fields() -> Vec<(&'static str, DataType)> {
        vec![("n", DataType::Float64), ("sum_sq", DataType::Float64)]
    }
    fn add(&mut self, x: f64, _t: i64) {
        self.n += 1.0;
        self.sum_sq += x * x;
    }
    fn merge_row(&mut self, s: &[ArrayRef], row: usize) {
        self.n += f64_at(s, 0, row);
        self.sum_sq += f64_at(s, 1, row);
    }
    fn state(&self) -> Vec<ScalarValue> {
        vec![
            ScalarValue::Float64(Some(self.n)),
            ScalarValue::Float64(Some(self.sum_sq)),
        ]
    }
    fn value(&self) -> Option<f64> {
        (self.n > 0.0).then(|| (self.sum_sq / self.n).sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{eval, SAMPLE};
    use super::*;

    #[test]
    fn reference_and_edges() {
        // numpy 2.4.6: np.sqrt(np.mean(x**2)) for x = SAMPLE
        assert!((eval::<Rms>(SAMPLE).unwrap() - 2.412763679150648).abs() < 1e-12);
        assert_eq!(eval::<Rms>(&[]), None);
        assert_eq!(eval::<Rms>(&[-3.0]), Some(3.0));
        assert_eq!(eval::<Rms>(&[2.0, 2.0, 2.0]), Some(2.0));
        assert_eq!(
            eval::<Rms>(&[f64::NAN, 4.0, f64::INFINITY]),
            Some(4.0),
            "non-finite values are skipped"
        );
    }
}
