//! `slope(x, ts)`: the least-squares linear trend of a signal against event time, in units of
//! `x` per second; a rising bearing temperature or a falling flow shows here first.
//!
//! Formula: `Σ(t−t̄)(x−x̄) / Σ(t−t̄)²` with `t` in seconds. State: `n`, a reference time (the
//! first reading's, in ms), `t̄` relative to it, `x̄`, `S_tt = Σ(t−t̄)²`, `S_tx = Σ(t−t̄)(x−x̄)`;
//! merging A and B with `δt = t̄_B − t̄_A` (on A's reference), `δx = x̄_B − x̄_A`:
//! `S_tt = S_tt,A + S_tt,B + δt² n_A n_B / n`, `S_tx = S_tx,A + S_tx,B + δt δx n_A n_B / n`.
//! Times are kept relative to the reference so epoch-millisecond magnitudes cost no precision.
//! NULL for fewer than two values or when all values share one time.

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;

use super::stat::{f64_at, Stat};
use super::FunctionDoc;

/// Documentation.
pub const DOC: FunctionDoc = FunctionDoc {
    name: "slope",
    signature: "slope(x DOUBLE, ts TIMESTAMP) -> DOUBLE",
    formula: "Σ(t−t̄)(x−x̄) / Σ(t−t̄)², t in seconds",
    description: "Least-squares trend of x against event time, in units of x per second.",
    example: &[2.0, -1.0, 3.5, 0.5, -2.5, 4.0, 1.0],
    takes_time: true,
    sql_args: "",
};

/// State of `slope`.
#[derive(Debug, Default, Clone)]
pub struct Slope {
    n: f64,
    ref_ms: f64,
    mean_t: f64,
    mean_x: f64,
    stt: f64,
    stx: f64,
}

impl Slope {
    fn merge(&mut self, b: &Slope) {
        if b.n == 0.0 {
            return;
        }
        if self.n == 0.0 {
            *self = b.clone();
            return;
        }
        let (na, nb) = (self.n, b.n);
        let n = na + nb;
        let b_mean_t = b.mean_t + (b.ref_ms - self.ref_ms) / 1000.0;
        let (dt, dx) = (b_mean_t - self.mean_t, b.mean_x - self.mean_x);
        self.stt += b.stt + dt * dt * na * nb / n;
        self.stx += b.stx + dt * dx * na * nb / n;
        self.mean_t += dt * nb / n;
        self.mean_x += dx * nb / n;
        self.n = n;
    }
}

impl Stat for Slope {
    fn state_fields() -> Vec<(&'static str, DataType)> {
        ["n", "ref_ms", "mean_t", "mean_x", "stt", "stx"]
            .into_iter()
            .map(|n| (n, DataType::Float64))
            .collect()
    }
    fn add(&mut self, x: f64, t: i64) {
        self.merge(&Slope {
            n: 1.0,
            ref_ms: t as f64,
            mean_t: 0.0,
            mean_x: x,
            stt: 0.0,
            stx: 0.0,
        });
    }
    fn merge_row(&mut self, s: &[ArrayRef], row: usize) {
        self.merge(&Slope {
            n: f64_at(s, 0, row),
            ref_ms: f64_at(s, 1, row),
            mean_t: f64_at(s, 2, row),
            mean_x: f64_at(s, 3, row),
            stt: f64_at(s, 4, row),
            stx: f64_at(s, 5, row),
        });
    }
    fn state(&self) -> Vec<ScalarValue> {
        [
            self.n,
            self.ref_ms,
            self.mean_t,
            self.mean_x,
            self.stt,
            self.stx,
        ]
        .into_iter()
        .map(|v| ScalarValue::Float64(Some(v)))
        .collect()
    }
    fn value(&self) -> Option<f64> {
        (self.n >= 2.0 && self.stt > 0.0).then(|| self.stx / self.stt)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{eval_t, SAMPLE, SAMPLE_TIMES};
    use super::*;

    #[test]
    fn reference_and_edges() {
        // scipy 1.17.1: scipy.stats.linregress(t / 1000, x).slope
        let pts: Vec<(f64, i64)> = SAMPLE
            .iter()
            .copied()
            .zip(SAMPLE_TIMES.iter().copied())
            .collect();
        assert!((eval_t::<Slope>(&pts).unwrap() - 0.09074410163339383).abs() < 1e-12);
        // on epoch-millisecond times: 0.5 per second exactly
        let base = 1_767_225_600_000;
        let pts: Vec<(f64, i64)> = (0..100)
            .map(|i| (10.0 + 0.5 * i as f64, base + i * 1000))
            .collect();
        assert!((eval_t::<Slope>(&pts).unwrap() - 0.5).abs() < 1e-9);
        assert_eq!(eval_t::<Slope>(&[]), None);
        assert_eq!(eval_t::<Slope>(&[(1.0, 5)]), None);
        assert_eq!(
            eval_t::<Slope>(&[(1.0, 5), (3.0, 5)]),
            None,
            "one instant: no trend"
        );
        assert_eq!(
            eval_t::<Slope>(&[(2.0, 0), (2.0, 1000), (2.0, 2000)]),
            Some(0.0)
        );
        assert_eq!(
            eval_t::<Slope>(&[(0.0, 0), (f64::NAN, 500), (1.0, 1000)]),
            Some(1.0)
        );
    }
}
