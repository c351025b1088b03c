//! Two-sided CUSUM baseline on the value standardised by the warm-up mean and deviation:
//! `z = (x − μ₀) / σ₀`, `S⁺ ← max(0, S⁺ + z − k)`, `S⁻ ← max(0, S⁻ − z − k)`; score
//! `max(S⁺, S⁻)`, alarm at `≥ h`. Accumulates small persistent shifts a z-score would miss.

use serde::{Deserialize, Serialize};

use super::Warmup;

/// State.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Cusum {
    /// Warm-up statistics (frozen afterwards as the reference).
    pub warm: Warmup,
    /// Upper sum.
    pub hi: f64,
    /// Lower sum.
    pub lo: f64,
}

impl Cusum {
    /// Feeds `x`; returns `max(S⁺, S⁻)` (0 during warm-up).
    pub fn update(&mut self, x: f64, k: f64, warmup: u32) -> f64 {
        if self.warm.n < warmup.max(2) {
            self.warm.add(x);
            return 0.0;
        }
        let z = (x - self.warm.mean) / self.warm.std();
        self.hi = (self.hi + z - k).max(0.0);
        self.lo = (self.lo - z - k).max(0.0);
        self.hi.max(self.lo)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{first_alarm, step_series};
    use super::super::{BaselineSpec, Method};

    #[test]
    fn accumulates_a_small_shift() {
        let spec = BaselineSpec {
            feature: "f".into(),
            warmup: 100,
            method: Method::Cusum { k: 0.5, h: 8.0 },
        };
        assert_eq!(first_alarm(&spec, &step_series(0.0)), None);
        // a 1.5-sd shift is below any single-window z limit but CUSUM adds it up: (1.5·√3 − 0.5) per window
        let at = first_alarm(&spec, &step_series(0.866)).expect("alarm on a small shift");
        assert!((201..215).contains(&at), "{at}");
        // and downward too
        assert!(first_alarm(&spec, &step_series(-0.866)).is_some());
    }
}
