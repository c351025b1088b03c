//! Operating-condition normalisation: machines that run in several regimes (altitude, load,
//! speed) read very different sensor levels in each, which hides degradation. The normaliser
//! standardises the condition settings, finds the regimes with k-means (linfa-clustering, fixed
//! seed) on the training readings, and z-scores every normalised measurement with its regime's
//! mean and standard deviation. It is fitted once, travels in the model artifact, and is applied
//! to each reading before windowing, in training, backtests and the stream alike.

use linfa::prelude::*;
use linfa_clustering::KMeans;
use ndarray::{Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use crate::ModelError;

/// A fitted normaliser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionNormaliser {
    /// The measurements that set the operating condition.
    pub conditions: Vec<String>,
    /// The measurements normalised per condition.
    pub columns: Vec<String>,
    /// Mean and standard deviation of each condition setting (for clustering).
    pub condition_scale: Vec<(f64, f64)>,
    /// Regime centroids in standardised condition space.
    pub centroids: Vec<Vec<f64>>,
    /// Per regime, per column: mean and standard deviation.
    pub moments: Vec<Vec<(f64, f64)>>,
    /// Training readings per regime.
    pub counts: Vec<usize>,
}

impl ConditionNormaliser {
    /// Fits `k` regimes on training readings: `conds` (rows × condition settings) and
    /// `values` (rows × columns). Rows with a non-finite setting are left out; non-finite
    /// values are left out of their column's moments.
    pub fn fit(
        conditions: Vec<String>,
        columns: Vec<String>,
        conds: ArrayView2<'_, f64>,
        values: ArrayView2<'_, f64>,
        k: usize,
    ) -> Result<Self, ModelError> {
        let d = conds.ncols();
        let rows: Vec<usize> = (0..conds.nrows())
            .filter(|i| conds.row(*i).iter().all(|x| x.is_finite()))
            .collect();
        if k == 0 || rows.len() < 2 * k || d == 0 {
            return Err(ModelError::Training(format!(
                "condition normalisation with {k} regimes needs at least {} readings with every condition setting, got {}",
                2 * k,
                rows.len()
            )));
        }
        let scale: Vec<(f64, f64)> = (0..d)
            .map(|j| {
                let xs: Vec<f64> = rows.iter().map(|i| conds[(*i, j)]).collect();
                let (m, sd) = moments(&xs);
                (m, if sd > 0.0 { sd } else { 1.0 })
            })
            .collect();
        let z = Array2::from_shape_fn((rows.len(), d), |(r, j)| {
            (conds[(rows[r], j)] - scale[j].0) / scale[j].1
        });
        let model = KMeans::params(k)
            .max_n_iterations(300)
            .tolerance(1e-8)
            .fit(&DatasetBase::from(z.clone()))
            .map_err(|e| ModelError::Training(format!("condition k-means: {e}")))?;
        let centroids: Vec<Vec<f64>> = model
            .centroids()
            .axis_iter(Axis(0))
            .map(|c| c.to_vec())
            .collect();
        let mut n = ConditionNormaliser {
            conditions,
            columns,
            condition_scale: scale,
            centroids,
            moments: Vec::new(),
            counts: vec![0; k],
        };
        let mut per: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); values.ncols()]; k];
        for (r, i) in rows.iter().enumerate() {
            let c = n.nearest(z.row(r).iter().copied());
            n.counts[c] += 1;
            for (j, x) in values.row(*i).iter().enumerate() {
                if x.is_finite() {
                    per[c][j].push(*x);
                }
            }
        }
        n.moments = per
            .iter()
            .map(|cols| {
                cols.iter()
                    .map(|xs| {
                        let (m, sd) = moments(xs);
                        (m, if sd > 0.0 { sd } else { 1.0 })
                    })
                    .collect()
            })
            .collect();
        Ok(n)
    }

    fn nearest(&self, z: impl Iterator<Item = f64> + Clone) -> usize {
        let mut best = (0, f64::INFINITY);
        for (c, cen) in self.centroids.iter().enumerate() {
            let d: f64 = z.clone().zip(cen).map(|(a, b)| (a - b) * (a - b)).sum();
            if d < best.1 {
                best = (c, d);
            }
        }
        best.0
    }

    /// The regime of a reading's condition settings (`None` when one is not finite).
    pub fn regime(&self, settings: &[f64]) -> Option<usize> {
        if settings.len() != self.condition_scale.len() || !settings.iter().all(|x| x.is_finite()) {
            return None;
        }
        let z = settings
            .iter()
            .zip(&self.condition_scale)
            .map(|(x, (m, sd))| (x - m) / sd);
        Some(self.nearest(z))
    }

    /// Column `j`'s value `x` normalised in regime `c`.
    pub fn normalise(&self, c: usize, j: usize, x: f64) -> f64 {
        match self.moments.get(c).and_then(|m| m.get(j)) {
            Some((m, sd)) => (x - m) / sd,
            None => f64::NAN,
        }
    }
}

fn moments(xs: &[f64]) -> (f64, f64) {
    if xs.is_empty() {
        return (0.0, 0.0);
    }
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    let v = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n;
    (m, v.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_regimes_and_removes_their_levels() {
        // three regimes of two settings; the sensor's level depends on the regime only
        let levels = [(0.0, 0.0, 100.0), (10.0, 0.5, 200.0), (20.0, 1.0, 400.0)];
        let mut conds = Vec::new();
        let mut vals = Vec::new();
        for i in 0..300 {
            let (a, b, l) = levels[i % 3];
            let e = ((i * 7919) % 13) as f64 / 13.0 - 0.5;
            conds.extend([a + 0.01 * e, b]);
            vals.push(l + e);
        }
        let conds = Array2::from_shape_vec((300, 2), conds).unwrap_or_default();
        let vals = Array2::from_shape_vec((300, 1), vals).unwrap_or_default();
        let n = ConditionNormaliser::fit(
            vec!["a".into(), "b".into()],
            vec!["s".into()],
            conds.view(),
            vals.view(),
            3,
        )
        .expect("fit");
        assert_eq!(n.counts.iter().sum::<usize>(), 300);
        assert!(n.counts.iter().all(|c| *c == 100), "{:?}", n.counts);
        for (a, b, l) in levels {
            let c = n.regime(&[a, b]).expect("regime");
            assert!(n.normalise(c, 0, l).abs() < 0.2, "regime level maps to ~0");
            assert!(
                n.normalise(c, 0, l + 5.0) > 10.0,
                "a shift within a regime stands out"
            );
        }
        assert_eq!(n.regime(&[f64::NAN, 0.0]), None);
    }
}
