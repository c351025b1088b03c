//! k-means distance detector: normal operation forms a few clusters (operating modes) in
//! standardised feature space; a window far from every cluster centre is anomalous.
//!
//! Fit: standardise, k-means (linfa-clustering, k-means++ init, fixed seed 42); the limit is the
//! 0.995 quantile of the training rows' squared distance to their nearest centre.
//! Score: `min_c ‖z − c‖² / limit`. Contributions: `(z_j − c*_j)²` for the nearest centre `c*`.

use linfa::traits::Fit;
use linfa::DatasetBase;
use linfa_clustering::KMeans;
use ndarray::{Array2, ArrayView1, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use crate::calibrate::quantile;
use crate::detector::{shares, AnomalyDetector, Score};
use crate::scaler::Scaler;
use crate::ModelError;

/// A trained k-means detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KMeansDetector {
    /// Standardisation.
    pub scaler: Scaler,
    /// Cluster centres in standardised units.
    pub centroids: Vec<Vec<f64>>,
    /// Squared-distance limit (training 0.995 quantile).
    pub limit: f64,
}

impl KMeansDetector {
    /// Fits `k` clusters on normal rows (deterministic: linfa's fixed-seed k-means++).
    pub fn fit(data: ArrayView2<'_, f64>, k: usize) -> Result<Self, ModelError> {
        let (n, d) = data.dim();
        if k == 0 || n < 2 * k || d == 0 {
            return Err(ModelError::Training(format!(
                "k-means with {k} clusters needs at least {} training rows, got {n}",
                2 * k
            )));
        }
        let scaler = Scaler::fit(data)?;
        let z = Array2::from_shape_fn((n, d), |(i, j)| scaler.apply(data.row(i))[j]);
        let model = KMeans::params(k)
            .max_n_iterations(200)
            .tolerance(1e-6)
            .fit(&DatasetBase::from(z.clone()))
            .map_err(|e| ModelError::Training(format!("k-means: {e}")))?;
        let centroids: Vec<Vec<f64>> = model
            .centroids()
            .axis_iter(Axis(0))
            .map(|c| c.to_vec())
            .collect();
        let mut det = KMeansDetector {
            scaler,
            centroids,
            limit: 1.0,
        };
        let d2: Vec<f64> = z.axis_iter(Axis(0)).map(|r| det.nearest(r).1).collect();
        det.limit = quantile(&d2, 0.995).filter(|l| *l > 0.0).unwrap_or(1.0);
        Ok(det)
    }

    fn nearest(&self, z: ArrayView1<'_, f64>) -> (usize, f64) {
        self.centroids
            .iter()
            .enumerate()
            .map(|(i, c)| {
                (
                    i,
                    c.iter()
                        .zip(z.iter())
                        .map(|(a, b)| (a - b).powi(2))
                        .sum::<f64>(),
                )
            })
            .fold(
                (0, f64::INFINITY),
                |best, x| if x.1 < best.1 { x } else { best },
            )
    }
}

impl AnomalyDetector for KMeansDetector {
    fn kind(&self) -> &'static str {
        "kmeans"
    }

    fn score(&self, row: ArrayView1<'_, f64>) -> Score {
        let z = self.scaler.apply(row);
        let (c, d2) = self.nearest(z.view());
        let contributions = shares(
            z.iter()
                .zip(&self.centroids[c])
                .map(|(a, b)| (a - b).powi(2))
                .collect(),
        );
        Score {
            score: d2 / self.limit,
            contributions,
        }
    }

    fn normal_range(&self, j: usize) -> (f64, f64) {
        self.scaler.normal_range(j)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use ndarray::Array2;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal};

    use super::*;

    /// Two operating modes in 3-D: (0,0,0) and (10,10,0), unit noise.
    pub fn two_modes(n: usize, seed: u64) -> Array2<f64> {
        let mut rng = StdRng::seed_from_u64(seed);
        let g = Normal::new(0.0, 1.0).unwrap();
        Array2::from_shape_fn((n, 3), |(i, j)| {
            let base = if i % 2 == 0 {
                0.0
            } else if j < 2 {
                10.0
            } else {
                0.0
            };
            base + g.sample(&mut rng)
        })
    }

    #[test]
    fn modes_are_normal_a_point_between_them_is_not() {
        let data = two_modes(400, 1);
        let det = KMeansDetector::fit(data.view(), 2).unwrap();
        let test = two_modes(400, 2);
        let alarms = test
            .axis_iter(Axis(0))
            .filter(|r| det.score(*r).score > 1.0)
            .count();
        assert!(alarms <= 12, "false alarms on normal data: {alarms}/400");
        // between the modes in f0/f1 is normal per feature ranges but far from both clusters;
        // and a point off in f2 is blamed on f2
        let odd = ndarray::array![0.0, 0.0, 9.0];
        let s = det.score(odd.view());
        assert!(s.score > 3.0, "{s:?}");
        assert!(s.contributions[2] > 0.9, "{s:?}");
        assert!(KMeansDetector::fit(data.view().slice(ndarray::s![..3, ..]), 2).is_err());
    }
}
