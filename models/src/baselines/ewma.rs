//! EWMA z-score baseline: `z = |x − m| / s` with `m` an exponentially weighted mean and `s²`
//! the exponentially weighted variance (weight `alpha` for the newest value), both initialised
//! from the warm-up windows. Scores then update (so slow drifts are absorbed; steps alarm).
//! Score: `z`, alarm at `z ≥ limit`.

use serde::{Deserialize, Serialize};

use super::Warmup;

/// State.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Ewma {
    /// Warm-up statistics.
    pub warm: Warmup,
    /// Weighted mean.
    pub mean: f64,
    /// Weighted variance.
    pub var: f64,
}

impl Ewma {
    /// Feeds `x`; returns `|z|` (0 during warm-up).
    pub fn update(&mut self, x: f64, alpha: f64, warmup: u32) -> f64 {
        if self.warm.n < warmup.max(2) {
            self.warm.add(x);
            self.mean = self.warm.mean;
            self.var = self.warm.std().powi(2);
            return 0.0;
        }
        let z = (x - self.mean).abs() / self.var.sqrt().max(1e-12);
        let d = x - self.mean;
        self.mean += alpha * d;
        self.var = (1.0 - alpha) * (self.var + alpha * d * d);
        z
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{first_alarm, step_series};
    use super::super::{BaselineSpec, Method};

    #[test]
    fn quiet_on_noise_alarms_on_a_step() {
        let spec = BaselineSpec {
            feature: "f".into(),
            warmup: 50,
            method: Method::Ewma {
                alpha: 0.05,
                limit: 4.0,
            },
        };
        assert_eq!(first_alarm(&spec, &step_series(0.0)), None);
        let at = first_alarm(&spec, &step_series(5.0)).expect("alarm on a 5-sd step");
        assert_eq!(at, 200, "the first window after the step");
    }
}
