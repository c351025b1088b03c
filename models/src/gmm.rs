//! Gaussian-mixture detector: normal operation is a mixture of `k` full-covariance Gaussians in
//! standardised feature space; a window of low likelihood under it is anomalous.
//!
//! Fit: standardise, EM (linfa-clustering `GaussianMixtureModel`, k-means init, fixed seed).
//! Negative log-likelihood: `nll(z) = −log Σ_k w_k N(z; μ_k, Σ_k)` with
//! `log N = ½ (log det P_k − d log 2π − (z−μ_k)ᵀ P_k (z−μ_k))`, `P_k = Σ_k⁻¹` (log-sum-exp).
//! Score: `(nll(z) − nll_min) / (nll_limit − nll_min)` with the training minimum and 0.995
//! quantile, so the training limit maps to 1. Contributions: `(z−μ)_j · (P (z−μ))_j` (clipped at
//! 0) for the most responsible component: each feature's part of the Mahalanobis distance.

use linfa::traits::Fit;
use linfa::DatasetBase;
use linfa_clustering::GaussianMixtureModel;
use ndarray::{Array2, ArrayView1, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use crate::calibrate::quantile;
use crate::detector::{shares, AnomalyDetector, Score};
use crate::scaler::Scaler;
use crate::ModelError;

/// A trained Gaussian-mixture detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GmmDetector {
    /// Standardisation.
    pub scaler: Scaler,
    /// Component weights.
    pub weights: Vec<f64>,
    /// Component means (standardised units).
    pub means: Vec<Vec<f64>>,
    /// Component precision matrices (row-major `d × d`).
    pub precisions: Vec<Vec<f64>>,
    /// `log det P_k` of each component.
    pub log_det_precisions: Vec<f64>,
    /// Smallest training nll.
    pub nll_min: f64,
    /// Training 0.995 quantile of nll.
    pub nll_limit: f64,
}

/// `log det` of a symmetric positive-definite matrix by Cholesky; `None` if it is not one.
fn log_det_spd(a: &[f64], d: usize) -> Option<f64> {
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let mut s = a[i * d + j];
            for k in 0..j {
                s -= l[i * d + k] * l[j * d + k];
            }
            if i == j {
                if s <= 0.0 {
                    return None;
                }
                l[i * d + i] = s.sqrt();
            } else {
                l[i * d + j] = s / l[j * d + j];
            }
        }
    }
    Some(2.0 * (0..d).map(|i| l[i * d + i].ln()).sum::<f64>())
}

impl GmmDetector {
    /// Fits `k` components on normal rows.
    pub fn fit(data: ArrayView2<'_, f64>, k: usize) -> Result<Self, ModelError> {
        let (n, d) = data.dim();
        if k == 0 || n < 2 * k * (d + 1) || d == 0 {
            return Err(ModelError::Training(format!(
                "a {k}-component Gaussian mixture over {d} features needs at least {} training rows, got {n}",
                2 * k * (d + 1)
            )));
        }
        let scaler = Scaler::fit(data)?;
        let z = Array2::from_shape_fn((n, d), |(i, j)| scaler.apply(data.row(i))[j]);
        let model = GaussianMixtureModel::params(k)
            .reg_covariance(1e-4)
            .max_n_iterations(300)
            .fit(&DatasetBase::from(z.clone()))
            .map_err(|e| ModelError::Training(format!("Gaussian mixture: {e}")))?;
        let precisions: Vec<Vec<f64>> = model
            .precisions()
            .axis_iter(Axis(0))
            .map(|p| p.iter().copied().collect())
            .collect();
        let log_det_precisions = precisions
            .iter()
            .map(|p| {
                log_det_spd(p, d).ok_or_else(|| {
                    ModelError::Training(
                        "Gaussian mixture: a precision matrix is not positive definite".into(),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut det = GmmDetector {
            scaler,
            weights: model.weights().to_vec(),
            means: model
                .means()
                .axis_iter(Axis(0))
                .map(|m| m.to_vec())
                .collect(),
            precisions,
            log_det_precisions,
            nll_min: 0.0,
            nll_limit: 1.0,
        };
        let nll: Vec<f64> = z.axis_iter(Axis(0)).map(|r| det.nll(r).0).collect();
        det.nll_min = nll.iter().copied().fold(f64::INFINITY, f64::min);
        det.nll_limit = quantile(&nll, 0.995).unwrap_or(det.nll_min + 1.0);
        if det.nll_limit <= det.nll_min {
            det.nll_limit = det.nll_min + 1.0;
        }
        Ok(det)
    }

    /// Negative log-likelihood of a standardised row and the most responsible component.
    fn nll(&self, z: ArrayView1<'_, f64>) -> (f64, usize) {
        let d = z.len();
        let ln2pi = (2.0 * std::f64::consts::PI).ln();
        let logs: Vec<f64> = (0..self.weights.len())
            .map(|k| {
                let m = &self.means[k];
                let p = &self.precisions[k];
                let diff: Vec<f64> = z.iter().zip(m).map(|(a, b)| a - b).collect();
                let q: f64 = (0..d)
                    .map(|i| diff[i] * (0..d).map(|j| p[i * d + j] * diff[j]).sum::<f64>())
                    .sum();
                self.weights[k].ln() + 0.5 * (self.log_det_precisions[k] - d as f64 * ln2pi - q)
            })
            .collect();
        let (best, max) =
            logs.iter()
                .copied()
                .enumerate()
                .fold(
                    (0, f64::NEG_INFINITY),
                    |b, (i, v)| if v > b.1 { (i, v) } else { b },
                );
        let lse = max + logs.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
        (-lse, best)
    }
}

impl AnomalyDetector for GmmDetector {
    fn kind(&self) -> &'static str {
        "gmm"
    }

    fn score(&self, row: ArrayView1<'_, f64>) -> Score {
        let z = self.scaler.apply(row);
        let (nll, k) = self.nll(z.view());
        let d = z.len();
        let diff: Vec<f64> = z.iter().zip(&self.means[k]).map(|(a, b)| a - b).collect();
        let p = &self.precisions[k];
        let contributions = shares(
            (0..d)
                .map(|i| diff[i] * (0..d).map(|j| p[i * d + j] * diff[j]).sum::<f64>())
                .collect(),
        );
        Score {
            score: (nll - self.nll_min) / (self.nll_limit - self.nll_min),
            contributions,
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
    fn log_det_matches_a_hand_computed_value() {
        // [[4, 2], [2, 3]]: det = 8
        assert!((log_det_spd(&[4.0, 2.0, 2.0, 3.0], 2).unwrap() - 8f64.ln()).abs() < 1e-12);
        assert_eq!(log_det_spd(&[1.0, 2.0, 2.0, 1.0], 2), None);
    }

    #[test]
    fn mixture_scores_modes_low_and_outliers_high() {
        let data = two_modes(600, 3);
        let det = GmmDetector::fit(data.view(), 2).unwrap();
        let test = two_modes(400, 4);
        let alarms = test
            .axis_iter(Axis(0))
            .filter(|r| det.score(*r).score > 1.0)
            .count();
        assert!(alarms <= 14, "false alarms on normal data: {alarms}/400");
        let odd = ndarray::array![10.0, 0.0, 0.0]; // f0 of one mode with f1 of the other
        let s = det.score(odd.view());
        assert!(s.score > 2.0, "{s:?}");
        assert!((s.contributions.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(s.contributions[2] < 0.2, "f2 is normal: {s:?}");
    }
}
