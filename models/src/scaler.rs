//! Per-feature standardisation `(x − mean) / std`, fitted on training rows, shared by the
//! clustering detectors; it also gives each feature's normal range (mean ± 3 sd) for alert
//! explanations. Non-finite cells are ignored when fitting and replaced by the mean when scoring.

use ndarray::{Array1, ArrayView1, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::ModelError;

/// Training mean and standard deviation of each feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    /// Mean of each feature.
    pub mean: Vec<f64>,
    /// Standard deviation of each feature (1 where it was constant).
    pub std: Vec<f64>,
}

impl Scaler {
    /// Fits on `rows x features`.
    pub fn fit(data: ArrayView2<'_, f64>) -> Result<Self, ModelError> {
        let d = data.ncols();
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
        Ok(Scaler { mean, std })
    }

    /// The standardised row.
    pub fn apply(&self, row: ArrayView1<'_, f64>) -> Array1<f64> {
        Array1::from_iter(row.iter().enumerate().map(|(j, x)| {
            if x.is_finite() {
                (x - self.mean[j]) / self.std[j]
            } else {
                0.0
            }
        }))
    }

    /// Normal range of feature `j`: mean ± 3 sd.
    pub fn normal_range(&self, j: usize) -> (f64, f64) {
        (
            self.mean[j] - 3.0 * self.std[j],
            self.mean[j] + 3.0 * self.std[j],
        )
    }
}
