//! One-class SVM detector (linfa-svm, ν formulation, Gaussian kernel): learns the support of
//! normal operation in standardised feature space; a window outside it is anomalous.
//!
//! Fit: standardise; at most 2000 training rows (an evenly spaced subsample, to bound the O(n²)
//! kernel matrix); kernel `k(x, y) = exp(−‖x − y‖² / eps)` with `eps = 2 · features`; `ν = 0.05`.
//! Decision `d(z) = ρ − Σ α_i k(s_i, z)` (positive outside the learned support). Score:
//! `(d(z) − d_min) / (d_limit − d_min)` with the training minimum and 0.995 quantile of `d`, so
//! the training limit maps to 1. The kernel gives no per-feature decomposition, so contributions
//! are each feature's squared standardised deviation from the training mean (its z²), normalised.

use linfa::traits::Fit;
use linfa::DatasetBase;
use linfa_svm::Svm;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use crate::calibrate::quantile;
use crate::detector::{shares, AnomalyDetector, Score};
use crate::scaler::Scaler;
use crate::ModelError;

/// A trained one-class SVM detector.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OcsvmDetector {
    /// Standardisation.
    pub scaler: Scaler,
    /// The SVM (support vectors, weights, ρ, kernel), as linfa-svm serialises it.
    pub svm: Svm<f64, bool>,
    /// Smallest training decision value.
    pub d_min: f64,
    /// Training 0.995 quantile of the decision value.
    pub d_limit: f64,
}

impl PartialEq for OcsvmDetector {
    fn eq(&self, o: &Self) -> bool {
        self.scaler == o.scaler
            && self.d_min == o.d_min
            && self.d_limit == o.d_limit
            && self.svm.rho == o.svm.rho
    }
}

impl OcsvmDetector {
    /// Fits on normal rows.
    pub fn fit(data: ArrayView2<'_, f64>, nu: f64) -> Result<Self, ModelError> {
        let (n, d) = data.dim();
        if n < 20 || d == 0 {
            return Err(ModelError::Training(format!(
                "a one-class SVM needs at least 20 training rows, got {n}"
            )));
        }
        let scaler = Scaler::fit(data)?;
        let step = n.div_ceil(2000).max(1);
        let rows: Vec<usize> = (0..n).step_by(step).collect();
        let z = Array2::from_shape_fn((rows.len(), d), |(i, j)| scaler.apply(data.row(rows[i]))[j]);
        let svm = Svm::<f64, linfa::dataset::Pr>::params()
            .nu_weight(nu)
            .gaussian_kernel(2.0 * d as f64)
            .fit(&DatasetBase::from(z.clone()))
            .map_err(|e| ModelError::Training(format!("one-class SVM: {e}")))?;
        let mut det = OcsvmDetector {
            scaler,
            svm,
            d_min: 0.0,
            d_limit: 1.0,
        };
        let dv: Vec<f64> = z.axis_iter(Axis(0)).map(|r| det.decision(r)).collect();
        det.d_min = dv.iter().copied().fold(f64::INFINITY, f64::min);
        det.d_limit = quantile(&dv, 0.995).unwrap_or(det.d_min + 1.0);
        if det.d_limit <= det.d_min {
            det.d_limit = det.d_min + 1.0;
        }
        Ok(det)
    }

    fn decision(&self, z: ArrayView1<'_, f64>) -> f64 {
        self.svm.rho - self.svm.weighted_sum(&z)
    }
}

impl AnomalyDetector for OcsvmDetector {
    fn kind(&self) -> &'static str {
        "ocsvm"
    }

    fn score(&self, row: ArrayView1<'_, f64>) -> Score {
        let z: Array1<f64> = self.scaler.apply(row);
        let d = self.decision(z.view());
        Score {
            score: (d - self.d_min) / (self.d_limit - self.d_min),
            contributions: shares(z.iter().map(|v| v * v).collect()),
        }
    }

    fn normal_range(&self, j: usize) -> (f64, f64) {
        self.scaler.normal_range(j)
    }
}

#[cfg(test)]
mod tests {
    use super::super::kmeans::tests::two_modes;
    use super::*;

    #[test]
    fn support_of_two_modes() {
        let data = two_modes(400, 5);
        let det = OcsvmDetector::fit(data.view(), 0.05).unwrap();
        let test = two_modes(400, 6);
        let alarms = test
            .axis_iter(Axis(0))
            .filter(|r| det.score(*r).score > 1.0)
            .count();
        assert!(alarms <= 20, "false alarms on normal data: {alarms}/400");
        let odd = ndarray::array![5.0, 5.0, 6.0];
        let s = det.score(odd.view());
        assert!(s.score > 1.5, "{s:?}");
        assert!(s.contributions[2] > s.contributions[0], "{s:?}");
        // the artifact form round-trips
        let back: OcsvmDetector =
            serde_json::from_str(&serde_json::to_string(&det).unwrap()).unwrap();
        assert!((back.score(odd.view()).score - s.score).abs() < 1e-12);
    }
}
