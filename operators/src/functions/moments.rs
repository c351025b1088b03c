//! Central moments up to the fourth, with the exact parallel merge of Pébay (2008), shared by
//! `skewness` and `kurtosis`.
//!
//! State: `n`, mean, and the sums of powered deviations `M2 = Σ(x−x̄)²`, `M3 = Σ(x−x̄)³`,
//! `M4 = Σ(x−x̄)⁴`. Merging A and B with `δ = x̄_B − x̄_A`, `n = n_A + n_B`:
//! `M2 = M2_A + M2_B + δ² n_A n_B / n`,
//! `M3 = M3_A + M3_B + δ³ n_A n_B (n_A − n_B) / n² + 3δ (n_A M2_B − n_B M2_A) / n`,
//! `M4 = M4_A + M4_B + δ⁴ n_A n_B (n_A² − n_A n_B + n_B²) / n³ + 6δ² (n_A² M2_B + n_B² M2_A) / n²
//!  + 4δ (n_A M3_B − n_B M3_A) / n`. Adding one value is merging a state with `n = 1`.

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;

use super::stat::f64_at;

/// Count, mean and central moment sums.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Moments {
    /// Number of values.
    pub n: f64,
    /// Mean.
    pub mean: f64,
    /// Σ(x − mean)².
    pub m2: f64,
    /// Σ(x − mean)³.
    pub m3: f64,
    /// Σ(x − mean)⁴.
    pub m4: f64,
}

impl Moments {
    /// State field names and types.
    pub fn fields() -> Vec<(&'static str, DataType)> {
        ["n", "mean", "m2", "m3", "m4"]
            .into_iter()
            .map(|n| (n, DataType::Float64))
            .collect()
    }

    /// Adds one value.
    pub fn add(&mut self, x: f64) {
        self.merge(&Moments {
            n: 1.0,
            mean: x,
            m2: 0.0,
            m3: 0.0,
            m4: 0.0,
        });
    }

    /// Merges another state.
    pub fn merge(&mut self, b: &Moments) {
        if b.n == 0.0 {
            return;
        }
        if self.n == 0.0 {
            *self = *b;
            return;
        }
        let (na, nb) = (self.n, b.n);
        let n = na + nb;
        let d = b.mean - self.mean;
        let d2 = d * d;
        let m2 = self.m2 + b.m2 + d2 * na * nb / n;
        let m3 = self.m3
            + b.m3
            + d2 * d * na * nb * (na - nb) / (n * n)
            + 3.0 * d * (na * b.m2 - nb * self.m2) / n;
        let m4 = self.m4
            + b.m4
            + d2 * d2 * na * nb * (na * na - na * nb + nb * nb) / (n * n * n)
            + 6.0 * d2 * (na * na * b.m2 + nb * nb * self.m2) / (n * n)
            + 4.0 * d * (na * b.m3 - nb * self.m3) / n;
        *self = Moments {
            n,
            mean: self.mean + d * nb / n,
            m2,
            m3,
            m4,
        };
    }

    /// Reads state row `row`.
    pub fn from_row(states: &[ArrayRef], row: usize) -> Moments {
        Moments {
            n: f64_at(states, 0, row),
            mean: f64_at(states, 1, row),
            m2: f64_at(states, 2, row),
            m3: f64_at(states, 3, row),
            m4: f64_at(states, 4, row),
        }
    }

    /// The state as scalars.
    pub fn state(&self) -> Vec<ScalarValue> {
        [self.n, self.mean, self.m2, self.m3, self.m4]
            .into_iter()
            .map(|v| ScalarValue::Float64(Some(v)))
            .collect()
    }
}
