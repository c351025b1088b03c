//! PCA detector: Hotelling T² inside the principal subspace and SPE (Q) outside it.
//!
//! Training standardizes each feature (mean, standard deviation), fits PCA with linfa-reduction
//! and keeps the fewest components explaining `variance_to_keep` of the variance (at most d-1,
//! so the residual space is never empty). For a standardized row `z`, with loadings `P` (k x d)
//! and component variances `λ`:
//!
//! * scores `t = P z`; `T² = Σ tᵢ² / λᵢ`
//! * residual `r = z - Pᵀ t`; `SPE = Σ rⱼ²`
//!
//! Each statistic is divided by its limit (a high quantile of its training values); the anomaly
//! score is the larger ratio, so 1.0 means "as unusual as the rarest normal windows".
//! Contributions explain the dominating statistic: `rⱼ²/SPE` for SPE, and the positive parts of
//! `zⱼ Σᵢ Pᵢⱼ tᵢ/λᵢ` for T².

use linfa::traits::{Fit, Predict};
use linfa::DatasetBase;
use linfa_reduction::Pca;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use crate::calibrate::quantile;
use crate::ModelError;

/// Training settings of the PCA detector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PcaParams {
    /// Fraction of the standardized variance the kept components must explain.
    pub variance_to_keep: f64,
    /// Quantile of the training T² and SPE values used as their limits.
    pub limit_quantile: f64,
}

impl Default for PcaParams {
    fn default() -> Self {
        PcaParams {
            variance_to_keep: 0.9,
            limit_quantile: 0.995,
        }
    }
}

/// A trained PCA detector (serialized inside the model artifact).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PcaDetector {
    /// Training mean of each feature.
    pub mean: Vec<f64>,
    /// Training standard deviation of each feature (1 where it was constant).
    pub std: Vec<f64>,
    /// Kept loadings, one row per component, one column per feature.
    pub components: Vec<Vec<f64>>,
    /// Variance of each kept component (standardized units).
    pub eigenvalues: Vec<f64>,
    /// Limit of T² (training quantile).
    pub t2_limit: f64,
    /// Limit of SPE (training quantile).
    pub spe_limit: f64,
}

/// The score of one feature row.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// max(T²/limit, SPE/limit).
    pub score: f64,
    /// Hotelling T².
    pub t2: f64,
    /// Squared prediction error.
    pub spe: f64,
    /// Each feature's share of the dominating statistic; sums to 1 (or all 0).
    pub contributions: Vec<f64>,
}

impl PcaDetector {
    /// Fits the detector on normal feature rows (`rows x features`). Non-finite cells are
    /// replaced by the feature's mean.
    pub fn fit(
        data: ArrayView2<'_, f64>,
        params: PcaParams,
    ) -> Result<(Self, Vec<f64>), ModelError> {
        let (n, d) = data.dim();
        if d < 2 {
            return Err(ModelError::Training(format!(
                "PCA needs at least 2 features, the SQL gives {d}"
            )));
        }
        if n < d + 2 {
            return Err(ModelError::Training(format!(
                "PCA needs more training windows than features: got {n} rows for {d} features (need at least {})",
                d + 2
            )));
        }
        let mut mean = vec![0.0; d];
        let mut std = vec![1.0; d];
        for j in 0..d {
            let col: Vec<f64> = data
                .column(j)
                .iter()
                .copied()
                .filter(|v| v.is_finite())
                .collect();
            if col.is_empty() {
                return Err(ModelError::Training(format!(
                    "feature #{j} has no finite value in the training data"
                )));
            }
            let m = col.iter().sum::<f64>() / col.len() as f64;
            let var =
                col.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (col.len().max(2) - 1) as f64;
            mean[j] = m;
            std[j] = if var.sqrt() > 1e-12 * m.abs().max(1.0) {
                var.sqrt()
            } else {
                1.0
            };
        }
        let z = Array2::from_shape_fn((n, d), |(i, j)| {
            let v = data[(i, j)];
            if v.is_finite() {
                (v - mean[j]) / std[j]
            } else {
                0.0
            }
        });

        let full = Pca::params(d)
            .fit(&DatasetBase::from(z.clone()))
            .map_err(|e| ModelError::Training(format!("PCA fit failed: {e}")))?;
        let ratios = full.explained_variance_ratio();
        let mut k = 1;
        let mut cum = 0.0;
        for (i, r) in ratios.iter().enumerate() {
            cum += r;
            k = i + 1;
            if cum >= params.variance_to_keep {
                break;
            }
        }
        let k = k.min(d - 1);
        // Loadings: the projection is linear in the row, so projecting the identity minus the
        // projection of the zero row yields Pᵀ.
        let eye: Array2<f64> = Array2::eye(d);
        let zero: Array2<f64> = Array2::zeros((1, d));
        let proj_eye: Array2<f64> = full.predict(&eye);
        let proj_zero: Array2<f64> = full.predict(&zero);
        let pt = &proj_eye - &proj_zero.row(0);
        let components: Vec<Vec<f64>> = (0..k).map(|c| pt.column(c).to_vec()).collect();
        // Component variances measured directly on the training scores (standardized units).
        let eigenvalues: Vec<f64> = components
            .iter()
            .map(|p| {
                let t: Vec<f64> = z
                    .rows()
                    .into_iter()
                    .map(|r| r.iter().zip(p).map(|(a, b)| a * b).sum())
                    .collect();
                let m = t.iter().sum::<f64>() / n as f64;
                (t.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64).max(1e-12)
            })
            .collect();

        let mut det = PcaDetector {
            mean,
            std,
            components,
            eigenvalues,
            t2_limit: 1.0,
            spe_limit: 1.0,
        };
        let raw: Vec<(f64, f64)> = (0..n).map(|i| det.statistics(z.row(i))).collect();
        let t2s: Vec<f64> = raw.iter().map(|r| r.0).collect();
        let spes: Vec<f64> = raw.iter().map(|r| r.1).collect();
        det.t2_limit = quantile(&t2s, params.limit_quantile)
            .unwrap_or(1.0)
            .max(1e-9);
        det.spe_limit = quantile(&spes, params.limit_quantile)
            .unwrap_or(1.0)
            .max(1e-9);
        let scores = raw
            .iter()
            .map(|(t2, spe)| (t2 / det.t2_limit).max(spe / det.spe_limit))
            .collect();
        Ok((det, scores))
    }

    /// Number of features the detector expects.
    pub fn n_features(&self) -> usize {
        self.mean.len()
    }

    fn standardize(&self, row: ArrayView1<'_, f64>) -> Array1<f64> {
        Array1::from_iter(row.iter().enumerate().map(|(j, v)| {
            if v.is_finite() {
                (v - self.mean[j]) / self.std[j]
            } else {
                0.0
            }
        }))
    }

    fn project(&self, z: ArrayView1<'_, f64>) -> Vec<f64> {
        self.components
            .iter()
            .map(|p| p.iter().zip(z.iter()).map(|(a, b)| a * b).sum())
            .collect()
    }

    fn statistics(&self, z: ArrayView1<'_, f64>) -> (f64, f64) {
        let t = self.project(z);
        let t2 = t
            .iter()
            .zip(&self.eigenvalues)
            .map(|(ti, l)| ti * ti / l)
            .sum();
        let spe = self.residual(z, &t).iter().map(|r| r * r).sum();
        (t2, spe)
    }

    fn residual(&self, z: ArrayView1<'_, f64>, t: &[f64]) -> Vec<f64> {
        (0..z.len())
            .map(|j| {
                z[j] - self
                    .components
                    .iter()
                    .zip(t)
                    .map(|(p, ti)| p[j] * ti)
                    .sum::<f64>()
            })
            .collect()
    }

    /// Scores one raw feature row.
    pub fn score(&self, row: ArrayView1<'_, f64>) -> Scored {
        let z = self.standardize(row);
        let t = self.project(z.view());
        let t2: f64 = t
            .iter()
            .zip(&self.eigenvalues)
            .map(|(ti, l)| ti * ti / l)
            .sum();
        let r = self.residual(z.view(), &t);
        let spe: f64 = r.iter().map(|x| x * x).sum();
        let (t2_ratio, spe_ratio) = (t2 / self.t2_limit, spe / self.spe_limit);
        let mut contributions: Vec<f64> = if spe_ratio >= t2_ratio {
            r.iter().map(|x| x * x).collect()
        } else {
            (0..z.len())
                .map(|j| {
                    let w: f64 = self
                        .components
                        .iter()
                        .zip(&t)
                        .zip(&self.eigenvalues)
                        .map(|((p, ti), l)| p[j] * ti / l)
                        .sum();
                    (z[j] * w).max(0.0)
                })
                .collect()
        };
        let total: f64 = contributions.iter().sum();
        if total > 0.0 && total.is_finite() {
            contributions.iter_mut().for_each(|c| *c /= total);
        } else {
            contributions.iter_mut().for_each(|c| *c = 0.0);
        }
        Scored {
            score: t2_ratio.max(spe_ratio),
            t2,
            spe,
            contributions,
        }
    }

    /// Scores every row of a raw feature matrix.
    pub fn score_rows(&self, rows: ArrayView2<'_, f64>) -> Vec<Scored> {
        rows.axis_iter(Axis(0)).map(|r| self.score(r)).collect()
    }
}

impl crate::AnomalyDetector for PcaDetector {
    fn kind(&self) -> &'static str {
        "pca"
    }

    fn score(&self, row: ArrayView1<'_, f64>) -> crate::Score {
        let s = PcaDetector::score(self, row);
        crate::Score {
            score: s.score,
            contributions: s.contributions,
        }
    }

    fn normal_range(&self, j: usize) -> (f64, f64) {
        (
            self.mean[j] - 3.0 * self.std[j],
            self.mean[j] + 3.0 * self.std[j],
        )
    }
}

#[cfg(test)]
mod tests {
    use ndarray::array;
    use rand::{rngs::StdRng, SeedableRng};
    use rand_distr::{Distribution, Normal};

    use super::*;

    /// Normal data on a 2-D plane inside 4-D: f2 = f0 + f1, f3 = f0 - f1, small noise.
    fn normal_rows(n: usize, seed: u64) -> Array2<f64> {
        let mut rng = StdRng::seed_from_u64(seed);
        let g = Normal::new(0.0, 1.0).unwrap();
        let e = Normal::new(0.0, 0.05).unwrap();
        let mut m = Array2::zeros((n, 4));
        for i in 0..n {
            let (a, b) = (g.sample(&mut rng), g.sample(&mut rng));
            m[(i, 0)] = 10.0 + a;
            m[(i, 1)] = 5.0 + 2.0 * b;
            m[(i, 2)] = 15.0 + a + 2.0 * b + e.sample(&mut rng);
            m[(i, 3)] = 5.0 + a - 2.0 * b + e.sample(&mut rng);
        }
        m
    }

    #[test]
    fn keeps_the_plane_and_flags_points_off_it() {
        let train = normal_rows(500, 1);
        let (det, scores) = PcaDetector::fit(train.view(), PcaParams::default()).unwrap();
        assert_eq!(det.components.len(), 2, "two latent factors explain > 90%");
        let over = scores.iter().filter(|s| **s > 1.0).count();
        // each statistic's limit is its 99.5% quantile, so at most ~1% of rows exceed either
        assert!(over <= 10, "training alarms {over} of 500");
        // fresh normal data mostly scores below 1
        let test = normal_rows(200, 2);
        let fresh = det
            .score_rows(test.view())
            .iter()
            .filter(|s| s.score > 1.5)
            .count();
        assert!(fresh <= 4, "{fresh} of 200 fresh normal rows over 1.5");
        // a point that breaks the f3 = f0 - f1 relation: SPE dominates, f3 and its partners explain it
        let bad = array![10.0, 5.0, 15.0, 9.0];
        let s = det.score(bad.view());
        assert!(s.score > 10.0, "score {}", s.score);
        assert!(s.spe / det.spe_limit > s.t2 / det.t2_limit);
        let top = s
            .contributions
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap()
            .0;
        assert!(
            top == 3 || top == 2,
            "top contributor {top}: {:?}",
            s.contributions
        );
        assert!((s.contributions.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn extreme_point_on_the_plane_is_a_t2_alarm() {
        let train = normal_rows(500, 3);
        let (det, _) = PcaDetector::fit(train.view(), PcaParams::default()).unwrap();
        let far = array![25.0, 5.0, 30.0, 20.0]; // a = +15 sd, consistent with the plane: T² ≈ 225 vs a limit ≈ 10.6
        let s = det.score(far.view());
        assert!(s.t2 / det.t2_limit > 10.0);
        assert!(s.score > 10.0);
    }

    #[test]
    fn refuses_too_little_data() {
        let tiny = Array2::<f64>::zeros((3, 4));
        assert!(PcaDetector::fit(tiny.view(), PcaParams::default()).is_err());
        let one_feature = Array2::<f64>::zeros((50, 1));
        assert!(PcaDetector::fit(one_feature.view(), PcaParams::default()).is_err());
    }
}
