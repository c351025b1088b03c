//! `vigil backtest` with protocol `rul` (C-MAPSS's): the RUL model is trained on run-to-failure
//! histories (`train`), then every asset of the `test` file, whose history stops before failure,
//! is predicted at its last reading, through the production path (decoder, event-time windows,
//! feature SQL, model), and compared with its true remaining life (`truth`, one line per asset,
//! in the order assets first appear in `test`). Reports RMSE and the PHM08 score.
//!
//! The model sees the training file only; the test file's truth is read after the predictions.

use std::path::Path;

use serde::Serialize;
use vigil_models::RulMetrics;
use vigil_operators::arrow::array::{AsArray, RecordBatch};
use vigil_operators::arrow::compute::concat_batches;

use crate::backtest::features_with;
use crate::engine::FeatureMatrix;
use crate::history::read_history;
use crate::job::JobConfig;
use crate::train::{fit_artifact, TrainOptions};
use crate::PipelineError;

/// One test asset's prediction.
#[derive(Debug, Clone, Serialize)]
pub struct RulPrediction {
    /// The asset.
    pub asset: String,
    /// Its age at the last reading.
    pub age: f64,
    /// Predicted remaining life.
    pub predicted: f64,
    /// True remaining life.
    pub actual: f64,
}

/// The result of a RUL backtest.
#[derive(Debug, Clone, Serialize)]
pub struct RulReport {
    /// RMSE, PHM08 score, bias (against the truth capped at `truth_cap` when set).
    pub metrics: RulMetrics,
    /// The cap applied to the truth for `metrics`, if any.
    pub truth_cap: Option<f64>,
    /// The same against the uncapped truth (when a cap is set).
    pub metrics_uncapped: Option<RulMetrics>,
    /// Training feature rows.
    pub train_rows: usize,
    /// Per test asset.
    pub predictions: Vec<RulPrediction>,
}

impl std::fmt::Display for RulReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = &self.metrics;
        writeln!(
            f,
            "RUL backtest: {} training rows, {} test assets predicted at their last reading",
            self.train_rows, m.n
        )?;
        let worst = self
            .predictions
            .iter()
            .map(|p| (p.predicted - p.actual).abs())
            .fold(0.0, f64::max);
        let against = self.truth_cap.map_or(String::new(), |c| {
            format!(" against the truth capped at {c}")
        });
        write!(f, "RMSE {:.2}, PHM08 score {:.1}{against}, mean error {:+.2} (positive = late), worst |error| {:.1}", m.rmse, m.phm_score, m.bias, worst)?;
        if let Some(u) = &self.metrics_uncapped {
            write!(
                f,
                "\nagainst the uncapped truth: RMSE {:.2}, PHM08 score {:.1}",
                u.rmse, u.phm_score
            )?;
        }
        Ok(())
    }
}

/// Reads a data file with the job's history layout; returns its readings and its assets in
/// the order they first appear (the order of the truth file's lines).
fn read(cfg: &JobConfig, path: &Path) -> Result<(RecordBatch, Vec<String>), PipelineError> {
    let decoder = vigil_schemas::BatchDecoder::new(cfg.mapping.clone())?;
    let h = read_history(path, &decoder, &cfg.history_columns)?;
    if let Some(d) = h.dead.first() {
        return Err(PipelineError::Data(format!(
            "{}: {} rows rejected, the first (data row {}): {}",
            path.display(),
            h.dead.len(),
            d.index + 1,
            d.detail
        )));
    }
    let batch = concat_batches(&decoder.schema(), &h.batches)
        .map_err(|e| PipelineError::Data(e.to_string()))?;
    let mut order = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for a in batch.column(0).as_string::<i32>().iter().flatten() {
        if seen.insert(a) {
            order.push(a.to_string());
        }
    }
    Ok((batch, order))
}

/// Runs the protocol (`input` replaces the data folder the file names are relative to).
pub async fn run(
    cfg: &JobConfig,
    input: Option<&Path>,
    train: &Path,
    test: &Path,
    truth: &Path,
    truth_cap: Option<f64>,
) -> Result<RulReport, PipelineError> {
    let relocate = |p: &Path| match (input, p.file_name()) {
        (Some(dir), Some(name)) => dir.join(name),
        _ => p.to_path_buf(),
    };
    if cfg.rul.is_none() {
        return Err(PipelineError::Data(
            "protocol rul needs a [rul] section".into(),
        ));
    }
    let (train_batch, _) = read(cfg, &relocate(train))?;
    // `[conditions]`: regimes and their moments come from the training file only
    let normaliser = match &cfg.conditions {
        Some(c) => Some(crate::conditions::fit(
            c,
            std::slice::from_ref(&train_batch),
        )?),
        None => None,
    };
    let (train_feats, names, fp) = features_with(cfg, &train_batch, normaliser.clone()).await?;
    let opts = TrainOptions::for_job(cfg);
    let (mut artifact, _) = fit_artifact(&train_feats, names.clone(), fp, &opts)?;
    artifact.normaliser = normaliser;
    let model = artifact
        .detector
        .rul()
        .ok_or_else(|| PipelineError::Data("the trained model is not a RUL model".into()))?;

    let (test_batch, assets) = read(cfg, &relocate(test))?;
    let (test_feats, _, _) = features_with(cfg, &test_batch, artifact.normaliser.clone()).await?;
    let m = FeatureMatrix::from_batches(&test_feats, names.len());
    // each asset's last reading: the first row (earliest window) holding its largest age
    let mut last: std::collections::HashMap<&str, (f64, i64, usize)> =
        std::collections::HashMap::new();
    for i in 0..m.len() {
        let age = m.values[(i, model.age_feature)];
        if !age.is_finite() {
            continue;
        }
        let e = last.entry(m.asset(i)).or_insert((age, m.window_end[i], i));
        if age > e.0 || (age == e.0 && m.window_end[i] < e.1) {
            *e = (age, m.window_end[i], i);
        }
    }
    let truth_path = relocate(truth);
    let truth_text =
        std::fs::read_to_string(&truth_path).map_err(|e| PipelineError::io(&truth_path, e))?;
    let actual: Vec<f64> = truth_text
        .split_whitespace()
        .map(|t| {
            t.parse::<f64>().map_err(|_| {
                PipelineError::Data(format!("{}: `{t}` is not a number", truth_path.display()))
            })
        })
        .collect::<Result<_, _>>()?;
    if actual.len() != assets.len() {
        return Err(PipelineError::Data(format!(
            "{} has {} values for {} test assets",
            truth_path.display(),
            actual.len(),
            assets.len()
        )));
    }
    let mut predictions = Vec::with_capacity(assets.len());
    for (asset, actual) in assets.iter().zip(actual) {
        let &(age, _, i) = last.get(asset.as_str()).ok_or_else(|| {
            PipelineError::Data(format!("test asset {asset} produced no feature row"))
        })?;
        predictions.push(RulPrediction {
            asset: asset.clone(),
            age,
            predicted: model.predict(m.values.row(i)),
            actual,
        });
    }
    let pairs = |cap: f64| -> Vec<(f64, f64)> {
        predictions
            .iter()
            .map(|p| (p.predicted, p.actual.min(cap)))
            .collect()
    };
    let none = || PipelineError::Data("no test assets".into());
    let uncapped = RulMetrics::of(&pairs(f64::INFINITY)).ok_or_else(none)?;
    let (metrics, metrics_uncapped) = match truth_cap {
        Some(c) => (RulMetrics::of(&pairs(c)).ok_or_else(none)?, Some(uncapped)),
        None => (uncapped, None),
    };
    Ok(RulReport {
        metrics,
        truth_cap,
        metrics_uncapped,
        train_rows: artifact.training.rows,
        predictions,
    })
}
