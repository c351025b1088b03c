//! Per-asset streaming baselines on a single feature: each asset learns its own normal from
//! its own windows, so they work on any feature without fleet-wide training.
//!
//! [`BaselineSpec`] (from the job file) builds a [`BaselineState`] per asset; `update` takes the
//! feature's value for the asset's next window and returns a score normalised so that 1.0 is the
//! alarm limit. States are plain serde values, kept in the job's state and snapshotted with it.
//! Methods, one file each: EWMA z-score (`ewma.rs`), two-sided CUSUM (`cusum.rs`) and
//! Page-Hinkley (`page_hinkley.rs`). Non-finite values are skipped (score 0, state unchanged).

pub mod cusum;
pub mod ewma;
pub mod page_hinkley;

use serde::{Deserialize, Serialize};

pub use cusum::Cusum;
pub use ewma::Ewma;
pub use page_hinkley::PageHinkley;

/// A baseline's method and parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Method {
    /// EWMA z-score: `|x − m| / s` against an exponentially weighted mean and deviation.
    Ewma {
        /// Weight of the newest value (0 < alpha ≤ 1).
        alpha: f64,
        /// z-score at which it alarms.
        limit: f64,
    },
    /// Two-sided CUSUM on the standardised value.
    Cusum {
        /// Allowance (slack) per window, in standard deviations.
        k: f64,
        /// Decision interval, in standard deviations.
        h: f64,
    },
    /// Two-sided Page-Hinkley test.
    PageHinkley {
        /// Tolerated drift per window, in standard deviations.
        delta: f64,
        /// Detection threshold, in standard deviations.
        lambda: f64,
    },
}

/// A baseline configured on one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineSpec {
    /// The feature (a column of the feature SQL).
    pub feature: String,
    /// Windows used to learn the asset's normal before it may alarm.
    pub warmup: u32,
    /// The method.
    pub method: Method,
}

/// One asset's state of one baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum BaselineState {
    /// See [`Ewma`].
    Ewma(Ewma),
    /// See [`Cusum`].
    Cusum(Cusum),
    /// See [`PageHinkley`].
    PageHinkley(PageHinkley),
}

/// Running mean and variance (Welford) used for the warm-up of every method.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Warmup {
    /// Values seen.
    pub n: u32,
    /// Mean.
    pub mean: f64,
    /// Sum of squared deviations.
    pub m2: f64,
}

impl Warmup {
    /// Adds a value.
    pub fn add(&mut self, x: f64) {
        self.n += 1;
        let d = x - self.mean;
        self.mean += d / f64::from(self.n);
        self.m2 += d * (x - self.mean);
    }

    /// Sample standard deviation, floored so a constant warm-up does not divide by zero.
    pub fn std(&self) -> f64 {
        let var = if self.n > 1 {
            self.m2 / f64::from(self.n - 1)
        } else {
            0.0
        };
        var.sqrt().max(1e-9 * self.mean.abs().max(1.0))
    }
}

impl BaselineState {
    /// The asset's learned normal: mean and standard deviation (for alert explanations).
    pub fn reference(&self) -> (f64, f64) {
        match self {
            BaselineState::Ewma(e) => (e.mean, e.var.sqrt()),
            BaselineState::Cusum(c) => (c.warm.mean, c.warm.std()),
            BaselineState::PageHinkley(p) => (p.warm.mean, p.warm.std()),
        }
    }
}

impl Method {
    /// Short name.
    pub fn name(&self) -> &'static str {
        match self {
            Method::Ewma { .. } => "ewma",
            Method::Cusum { .. } => "cusum",
            Method::PageHinkley { .. } => "page_hinkley",
        }
    }
}

impl BaselineSpec {
    /// A fresh state for a new asset.
    pub fn new_state(&self) -> BaselineState {
        match self.method {
            Method::Ewma { .. } => BaselineState::Ewma(Ewma::default()),
            Method::Cusum { .. } => BaselineState::Cusum(Cusum::default()),
            Method::PageHinkley { .. } => BaselineState::PageHinkley(PageHinkley::default()),
        }
    }

    /// Feeds the asset's next value; returns its score (≥ 1 alarms; 0 during warm-up).
    pub fn update(&self, state: &mut BaselineState, x: f64) -> f64 {
        if !x.is_finite() {
            return 0.0;
        }
        match (self.method, state) {
            (Method::Ewma { alpha, limit }, BaselineState::Ewma(s)) => {
                s.update(x, alpha, self.warmup) / limit
            }
            (Method::Cusum { k, h }, BaselineState::Cusum(s)) => s.update(x, k, self.warmup) / h,
            (Method::PageHinkley { delta, lambda }, BaselineState::PageHinkley(s)) => {
                s.update(x, delta, self.warmup) / lambda
            }
            (_, st) => {
                // the job changed the method: start over
                *st = self.new_state();
                0.0
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// 200 values of N(10, 1)-like noise (deterministic), then a step of `+step`.
    pub fn step_series(step: f64) -> Vec<f64> {
        (0..300)
            .map(|i| {
                let noise = ((i * 7919 % 1000) as f64 / 1000.0 - 0.5) * 2.0;
                10.0 + noise + if i >= 200 { step } else { 0.0 }
            })
            .collect()
    }

    /// Index of the first alarm, if any.
    pub fn first_alarm(spec: &BaselineSpec, xs: &[f64]) -> Option<usize> {
        let mut st = spec.new_state();
        xs.iter().position(|x| spec.update(&mut st, *x) >= 1.0)
    }

    #[test]
    fn state_round_trips_through_json_and_method_change_resets() {
        let spec = BaselineSpec {
            feature: "f".into(),
            warmup: 5,
            method: Method::Ewma {
                alpha: 0.2,
                limit: 3.0,
            },
        };
        let mut st = spec.new_state();
        for x in [1.0, 2.0, 3.0] {
            spec.update(&mut st, x);
        }
        let back: BaselineState =
            serde_json::from_str(&serde_json::to_string(&st).unwrap()).unwrap();
        assert_eq!(back, st);
        let other = BaselineSpec {
            method: Method::Cusum { k: 0.5, h: 5.0 },
            ..spec.clone()
        };
        assert_eq!(other.update(&mut st, 1.0), 0.0);
        assert!(matches!(st, BaselineState::Cusum(_)));
        assert_eq!(spec.update(&mut spec.new_state(), f64::NAN), 0.0);
    }
}
