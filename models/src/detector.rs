//! The detector trait: every anomaly detector scores a raw feature row into a [`Score`] (1.0 is
//! its calibrated limit on normal training data) with each feature's share of it, and names
//! each feature's normal range; the alert explanation is built from exactly these.
//!
//! [`crate::Detector`] (the serialized enum in the artifact) dispatches to the implementations:
//! PCA T²+SPE (`pca.rs`), k-means distance (`kmeans.rs`), Gaussian-mixture negative
//! log-likelihood (`gmm.rs`).

use ndarray::ArrayView1;

/// A score and its explanation.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// The anomaly score (higher is worse; about 1 at the training limit).
    pub score: f64,
    /// Each feature's share of the score; sums to 1, or all 0 when nothing stands out.
    pub contributions: Vec<f64>,
}

/// An anomaly detector over feature rows.
pub trait AnomalyDetector {
    /// Short name (`pca`, `kmeans`, `gmm`).
    fn kind(&self) -> &'static str;
    /// Scores one raw feature row.
    fn score(&self, row: ArrayView1<'_, f64>) -> Score;
    /// Normal range of feature `j` seen in training.
    fn normal_range(&self, j: usize) -> (f64, f64);
    /// The z-score of value `x` of feature `j` against the training distribution. The default
    /// reads the mean and standard deviation off a `mean ± 3 sd` normal range.
    fn z_score(&self, j: usize, x: f64) -> Option<f64> {
        let (lo, hi) = self.normal_range(j);
        let sd = (hi - lo) / 6.0;
        (x.is_finite() && sd.is_finite() && sd > 0.0).then(|| (x - (lo + hi) / 2.0) / sd)
    }
}

/// Normalises non-negative contributions to shares (all 0 when they sum to 0 or not finite).
pub fn shares(mut c: Vec<f64>) -> Vec<f64> {
    c.iter_mut()
        .for_each(|x| *x = if x.is_finite() { x.max(0.0) } else { 0.0 });
    let total: f64 = c.iter().sum();
    if total > 0.0 && total.is_finite() {
        c.iter_mut().for_each(|x| *x /= total);
    } else {
        c.iter_mut().for_each(|x| *x = 0.0);
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;
    impl AnomalyDetector for Fixed {
        fn kind(&self) -> &'static str {
            "fixed"
        }
        fn score(&self, _: ArrayView1<'_, f64>) -> Score {
            Score {
                score: 0.0,
                contributions: vec![],
            }
        }
        fn normal_range(&self, j: usize) -> (f64, f64) {
            // mean 10, sd 2 for feature 0; a degenerate range for feature 1
            if j == 0 {
                (4.0, 16.0)
            } else {
                (5.0, 5.0)
            }
        }
    }

    #[test]
    fn default_z_score_reads_mean_and_sd_off_the_normal_range() {
        assert_eq!(Fixed.z_score(0, 10.0), Some(0.0));
        assert_eq!(Fixed.z_score(0, 16.0), Some(3.0));
        assert_eq!(Fixed.z_score(0, 7.0), Some(-1.5));
        assert_eq!(Fixed.z_score(1, 7.0), None);
        assert_eq!(Fixed.z_score(0, f64::NAN), None);
    }

    #[test]
    fn shares_normalise_and_drop_junk() {
        assert_eq!(
            shares(vec![1.0, 3.0, -2.0, f64::NAN]),
            vec![0.25, 0.75, 0.0, 0.0]
        );
        assert_eq!(shares(vec![0.0, 0.0]), vec![0.0, 0.0]);
    }
}
