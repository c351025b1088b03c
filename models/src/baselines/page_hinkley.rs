//! Page-Hinkley baseline (two-sided), on the value standardised by the warm-up deviation:
//! with the running mean `x̄_t` of all values so far, `m⁺_t = Σ (z_i − z̄_i − δ)` and
//! `m⁻_t = Σ (z̄_i − z_i − δ)`; `PH = max(m⁺_t − min m⁺, m⁻_t − min m⁻)`; score `PH`, alarm at
//! `≥ λ`. Detects a change of the mean after it persisted; a single outlier alarms only when it
//! alone exceeds about λ standard deviations.

use serde::{Deserialize, Serialize};

use super::Warmup;

/// State.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PageHinkley {
    /// Warm-up statistics (its deviation standardises the values).
    pub warm: Warmup,
    /// Values seen after the warm-up.
    pub n: u64,
    /// Running mean of the standardised values.
    pub mean: f64,
    /// Upward cumulative sum and its minimum.
    pub up: f64,
    /// Minimum of `up`.
    pub up_min: f64,
    /// Downward cumulative sum.
    pub down: f64,
    /// Minimum of `down`.
    pub down_min: f64,
}

impl PageHinkley {
    /// Feeds `x`; returns the test statistic (0 during warm-up).
    pub fn update(&mut self, x: f64, delta: f64, warmup: u32) -> f64 {
        if self.warm.n < warmup.max(2) {
            self.warm.add(x);
            return 0.0;
        }
        let z = (x - self.warm.mean) / self.warm.std();
        self.n += 1;
        self.mean += (z - self.mean) / self.n as f64;
        self.up += z - self.mean - delta;
        self.down += self.mean - z - delta;
        self.up_min = self.up_min.min(self.up);
        self.down_min = self.down_min.min(self.down);
        (self.up - self.up_min).max(self.down - self.down_min)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{first_alarm, step_series};
    use super::super::{BaselineSpec, Method};

    #[test]
    fn detects_a_persistent_change_not_noise() {
        let spec = BaselineSpec {
            feature: "f".into(),
            warmup: 100,
            method: Method::PageHinkley {
                delta: 0.5,
                lambda: 10.0,
            },
        };
        assert_eq!(first_alarm(&spec, &step_series(0.0)), None);
        let at = first_alarm(&spec, &step_series(2.0)).expect("alarm on a 2-sd change");
        assert!((201..230).contains(&at), "{at}");
        // one outlier below lambda standard deviations does not trigger it
        let mut xs = step_series(0.0);
        xs[250] += 4.0; // about 7 sd: less than lambda
        assert_eq!(first_alarm(&spec, &xs), None);
    }
}
