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
}

/// Normalises non-negative contributions to shares (all 0 when they sum to 0 or not finite).
pub fn shares(mut c: Vec<f64>) -> Vec<f64> {
    c.iter_mut().for_each(|x| *x = if x.is_finite() { x.max(0.0) } else { 0.0 });
    let total: f64 = c.iter().sum();
    if total > 0.0 && total.is_finite() {
        c.iter_mut().for_each(|x| *x /= total);
    } else {
        c.iter_mut().for_each(|x| *x = 0.0);
    }
    c
}
