//! `vigil train`: a model from a history file, with the job's own operators and feature SQL.
//!
//! Readings go through the same [`Engine`] as the stream (decoder, windows, watermark, feature
//! SQL); the feature rows of every closed window train the chosen detector (PCA, k-means or
//! Gaussian mixture). The threshold is either calibrated to a target false-alarm rate on a
//! held-out validation part (the latest 20 % of windows, never used for fitting), or, without a
//! target, set to a margin above the highest training score. The artifact records the feature
//! names, the SQL fingerprint and the calibration.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use ndarray::Axis;
use vigil_models::calibrate::{alarm_rate, threshold_for_far};
use vigil_models::{
    Detector, GmmDetector, KMeansDetector, ModelArtifact, PcaDetector, PcaParams, TrainingInfo,
    ARTIFACT_FORMAT_VERSION,
};
use vigil_operators::arrow::array::RecordBatch;

use crate::engine::{now_ms, Engine, FeatureMatrix};
use crate::history::read_history;
use crate::job::JobConfig;
use crate::metrics::JobStats;
use crate::PipelineError;

/// Training settings.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Model name written to the artifact.
    pub name: String,
    /// Model version written to the artifact (alerts carry it).
    pub version: String,
    /// PCA settings.
    pub pca: PcaParams,
    /// Without a target false-alarm rate, the threshold is this multiple of the highest
    /// training score, so normal data like the training data does not alarm.
    pub threshold_margin: f64,
    /// Which detector to train.
    pub detector: DetectorChoice,
    /// Calibrate the threshold to this false-alarm rate on held-out validation windows.
    pub target_far: Option<f64>,
    /// Draw a progress bar on standard error while the history is windowed.
    pub progress: bool,
    /// Train a remaining-useful-life model (the job's `[rul]`) instead of a detector.
    pub rul: Option<crate::job::RulSettings>,
}

/// The detector `vigil train` fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectorChoice {
    /// PCA T² + SPE.
    Pca,
    /// Distance to the nearest of `k` k-means centres.
    KMeans(usize),
    /// Negative log-likelihood under a `k`-component Gaussian mixture.
    Gmm(usize),
    /// One-class SVM (ν = 0.05).
    Ocsvm,
}

impl std::str::FromStr for DetectorChoice {
    type Err = String;
    /// `pca`, `kmeans[:k]`, `gmm[:k]` (k defaults to 3).
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, k) = match s.split_once(':') {
            Some((n, k)) => (
                n,
                k.parse::<usize>()
                    .map_err(|_| format!("`{k}` is not a number of clusters"))?,
            ),
            None => (s, 3),
        };
        match name {
            "pca" => Ok(DetectorChoice::Pca),
            "kmeans" => Ok(DetectorChoice::KMeans(k)),
            "gmm" => Ok(DetectorChoice::Gmm(k)),
            "ocsvm" => Ok(DetectorChoice::Ocsvm),
            other => Err(format!(
                "`{other}` is not a detector (pca, kmeans[:k], gmm[:k], ocsvm)"
            )),
        }
    }
}

impl TrainOptions {
    /// Defaults for a job: named after it, version `1`.
    pub fn for_job(cfg: &JobConfig) -> Self {
        TrainOptions {
            name: cfg.name.clone(),
            version: "1".into(),
            pca: PcaParams::default(),
            threshold_margin: 1.2,
            detector: DetectorChoice::Pca,
            target_far: None,
            progress: false,
            rul: cfg.rul.clone(),
        }
    }
}

/// What training did.
#[derive(Debug)]
pub struct TrainReport {
    /// The trained model.
    pub artifact: ModelArtifact,
    /// Readings used.
    pub readings: usize,
    /// History rows rejected by the decoder.
    pub rejected: usize,
    /// Readings that arrived after their window closed (out of order beyond the allowance).
    pub late: usize,
    /// Windows closed.
    pub windows: usize,
    /// Components kept by PCA (0 for other detectors).
    pub components: usize,
}

impl std::fmt::Display for TrainReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let a = &self.artifact;
        writeln!(
            f,
            "trained {} ({} detector, {} features{})",
            a.id(),
            a.detector.as_dyn().kind(),
            a.feature_names.len(),
            if self.components > 0 {
                format!(", {} principal components", self.components)
            } else {
                String::new()
            }
        )?;
        writeln!(
            f,
            "  data: {} readings ({} rejected, {} late) -> {} windows -> {} feature rows from {} assets",
            self.readings, self.rejected, self.late, self.windows, a.training.rows, a.training.assets
        )?;
        if let Some(r) = a.detector.rul() {
            writeln!(
                f,
                "  remaining useful life: targets capped at {}, alert below {} (threshold 1 = horizon / RUL), fit RMSE {:.2} on the training rows",
                r.cap,
                r.horizon,
                a.training.fit_rmse.unwrap_or(f64::NAN)
            )?;
            return write!(f, "  features: {}", a.feature_names.join(", "));
        }
        match (a.training.target_far, a.training.validation_far) {
            (Some(t), Some(v)) => writeln!(
                f,
                "  threshold: {:.3}, calibrated for a false-alarm rate of {:.2}% on {} held-out validation windows: {:.2}% there (training {:.2}%)",
                a.threshold,
                t * 100.0,
                a.training.validation_rows,
                v * 100.0,
                a.training.training_alarm_rate * 100.0
            )?,
            _ => writeln!(
                f,
                "  threshold: {:.3} (training alarm rate {:.2}%)",
                a.threshold,
                a.training.training_alarm_rate * 100.0
            )?,
        }
        write!(f, "  features: {}", a.feature_names.join(", "))
    }
}

/// Trains from history files.
pub async fn train_from_files(
    cfg: &JobConfig,
    inputs: &[&Path],
    opts: &TrainOptions,
) -> Result<TrainReport, PipelineError> {
    let stats = Arc::new(JobStats::new());
    let mut engine = Engine::new(cfg, None, stats).await?;
    let mut batches = Vec::new();
    let mut rejected = 0;
    for p in inputs {
        let h = read_history(p, engine.decoder(), &cfg.history_columns)?;
        rejected += h.dead.len();
        batches.extend(h.batches);
    }
    let mut report = train_with(cfg, &mut engine, &batches, opts).await?;
    report.rejected = rejected;
    Ok(report)
}

/// Trains from readings batches already decoded with the job's mapping.
pub async fn train_from_batches(
    cfg: &JobConfig,
    batches: &[RecordBatch],
    opts: &TrainOptions,
) -> Result<TrainReport, PipelineError> {
    let mut engine = Engine::new(cfg, None, Arc::new(JobStats::new())).await?;
    train_with(cfg, &mut engine, batches, opts).await
}

async fn train_with(
    cfg: &JobConfig,
    engine: &mut Engine,
    batches: &[RecordBatch],
    opts: &TrainOptions,
) -> Result<TrainReport, PipelineError> {
    // `[conditions]`: the regimes are found on the training readings first
    let normaliser = match &cfg.conditions {
        Some(c) => Some(crate::conditions::fit(c, batches)?),
        None => None,
    };
    engine.set_normaliser(normaliser.clone());
    let mut features = Vec::new();
    let mut late = 0;
    let total: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let mut done = 0;
    for b in batches {
        let step = engine.process_all(b).await?;
        late += step.late_rows.len();
        features.extend(step.features);
        done += b.num_rows();
        if opts.progress {
            eprint!("\r{}", progress_bar(done, total, features.len()));
        }
    }
    if opts.progress {
        eprintln!();
    }
    features.extend(engine.flush().await?.features);
    let names = engine.features().feature_names().to_vec();
    let fingerprint = engine.features().fingerprint().to_string();
    let (mut artifact, components) = fit_artifact(&features, names, fingerprint, opts)?;
    artifact.normaliser = normaliser;
    Ok(TrainReport {
        artifact,
        readings: batches.iter().map(RecordBatch::num_rows).sum(),
        rejected: 0,
        late,
        windows: features.len(),
        components,
    })
}

/// A one-line progress bar: `[#####.....]  52%  1234/2345 readings, 17 windows`.
pub fn progress_bar(done: usize, total: usize, windows: usize) -> String {
    let frac = if total == 0 {
        1.0
    } else {
        done as f64 / total as f64
    };
    let filled = (frac * 30.0).round() as usize;
    format!(
        "[{}{}] {:>3.0}%  {done}/{total} readings, {windows} windows",
        "#".repeat(filled.min(30)),
        ".".repeat(30 - filled.min(30)),
        frac * 100.0
    )
}

/// Fits the chosen detector on feature batches (as the engine produced them) and calibrates its
/// threshold; returns the artifact and the number of principal components (PCA only).
pub fn fit_artifact(
    features: &[RecordBatch],
    names: Vec<String>,
    fingerprint: String,
    opts: &TrainOptions,
) -> Result<(ModelArtifact, usize), PipelineError> {
    let m = FeatureMatrix::from_batches(features, names.len());
    if m.is_empty() {
        return Err(PipelineError::Data(
            "the history produced no feature rows: is it empty, or are all rows rejected?".into(),
        ));
    }
    if let Some(rul) = &opts.rul {
        return Ok((fit_rul(&m, names, fingerprint, opts, rul)?, 0));
    }
    // Time-ordered split: the latest windows validate the threshold and are never fitted on.
    let mut order: Vec<usize> = (0..m.len()).collect();
    order.sort_by_key(|i| (m.window_end[*i], i.to_owned()));
    let n_val = if opts.target_far.is_some() {
        m.len() / 5
    } else {
        0
    };
    let (fit_idx, val_idx) = order.split_at(m.len() - n_val);
    let fit = m.values.select(Axis(0), fit_idx);
    let val = m.values.select(Axis(0), val_idx);
    let (detector, components) = match opts.detector {
        DetectorChoice::Pca => {
            let (det, _) = PcaDetector::fit(fit.view(), opts.pca)?;
            let c = det.components.len();
            (Detector::Pca(det), c)
        }
        DetectorChoice::KMeans(k) => (Detector::Kmeans(KMeansDetector::fit(fit.view(), k)?), 0),
        DetectorChoice::Gmm(k) => (Detector::Gmm(GmmDetector::fit(fit.view(), k)?), 0),
        DetectorChoice::Ocsvm => (
            Detector::Ocsvm(vigil_models::OcsvmDetector::fit(fit.view(), 0.05)?),
            0,
        ),
    };
    let scorer = detector.as_dyn();
    let scores: Vec<f64> = fit
        .axis_iter(Axis(0))
        .map(|r| scorer.score(r).score)
        .collect();
    let val_scores: Vec<f64> = val
        .axis_iter(Axis(0))
        .map(|r| scorer.score(r).score)
        .collect();
    let threshold = match opts.target_far {
        Some(far) => threshold_for_far(&val_scores, far).ok_or_else(|| {
            PipelineError::Data(format!(
                "cannot calibrate to a false-alarm rate of {far}: it must be in [0, 1) and the history must give validation windows"
            ))
        })?,
        None => {
            let max_score = scores.iter().copied().filter(|s| s.is_finite()).fold(0.0, f64::max);
            (max_score * opts.threshold_margin).max(1.0)
        }
    };
    let all: Vec<usize> = (0..m.len()).collect();
    let mut artifact = new_artifact(
        opts,
        names,
        fingerprint,
        threshold,
        &m,
        &all,
        &scores,
        detector,
    );
    artifact.training.target_far = opts.target_far;
    artifact.training.validation_rows = val_scores.len();
    artifact.training.validation_far = opts.target_far.map(|_| alarm_rate(&val_scores, threshold));
    Ok((artifact, components))
}

/// An artifact of `detector` trained on rows `rows` of `m` (its coverage: rows, assets, time
/// range) with training scores `scores`; calibration fields are left for the caller.
#[allow(clippy::too_many_arguments)]
fn new_artifact(
    opts: &TrainOptions,
    names: Vec<String>,
    fingerprint: String,
    threshold: f64,
    m: &FeatureMatrix,
    rows: &[usize],
    scores: &[f64],
    detector: Detector,
) -> ModelArtifact {
    let assets: BTreeSet<&str> = rows.iter().map(|i| m.asset(*i)).collect();
    ModelArtifact {
        format_version: ARTIFACT_FORMAT_VERSION,
        name: opts.name.clone(),
        version: opts.version.clone(),
        created_at_ms: now_ms(),
        feature_names: names,
        feature_sql_hash: fingerprint,
        threshold,
        training: TrainingInfo {
            rows: rows.len(),
            assets: assets.len(),
            from_ms: rows
                .iter()
                .map(|i| m.window_start[*i])
                .min()
                .unwrap_or_default(),
            to_ms: rows
                .iter()
                .map(|i| m.window_end[*i])
                .max()
                .unwrap_or_default(),
            training_alarm_rate: alarm_rate(scores, threshold),
            target_far: None,
            validation_rows: 0,
            validation_far: None,
            fit_rmse: None,
        },
        detector,
        normaliser: None,
    }
}

/// The RUL training rows of a feature matrix from run-to-failure histories: for each asset and
/// age, the first window that reached that age (later windows only repeat an asset that stopped
/// reporting), with target `min(final age − age, cap)`. Returns row indices and targets.
pub fn rul_targets(m: &FeatureMatrix, age_j: usize, cap: f64) -> (Vec<usize>, Vec<f64>) {
    let mut order: Vec<usize> = (0..m.len()).collect();
    order.sort_by_key(|i| (m.window_end[*i], *i));
    let mut final_age: std::collections::HashMap<&str, f64> = std::collections::HashMap::new();
    for i in 0..m.len() {
        let a = m.values[(i, age_j)];
        if a.is_finite() {
            let e = final_age.entry(m.asset(i)).or_insert(a);
            *e = e.max(a);
        }
    }
    let mut last: std::collections::HashMap<&str, f64> = std::collections::HashMap::new();
    let (mut idx, mut y) = (Vec::new(), Vec::new());
    for i in order {
        let a = m.values[(i, age_j)];
        let prev = last.entry(m.asset(i)).or_insert(f64::NEG_INFINITY);
        if !(a > *prev) {
            continue;
        }
        *prev = a;
        idx.push(i);
        y.push((final_age[m.asset(i)] - a).min(cap));
    }
    (idx, y)
}

fn fit_rul(
    m: &FeatureMatrix,
    names: Vec<String>,
    fingerprint: String,
    opts: &TrainOptions,
    rul: &crate::job::RulSettings,
) -> Result<ModelArtifact, PipelineError> {
    let age_j = names
        .iter()
        .position(|n| *n == rul.age_feature)
        .ok_or_else(|| {
            PipelineError::Data(format!(
                "[rul] age_feature `{}` is not a column of the feature SQL ({})",
                rul.age_feature,
                names.join(", ")
            ))
        })?;
    let (idx, y) = rul_targets(m, age_j, rul.cap);
    let x = m.values.select(Axis(0), &idx);
    let params = vigil_models::RulParams {
        cap: rul.cap,
        horizon: rul.horizon,
        age_feature: age_j,
        gbr: rul.gbr,
    };
    let det = vigil_models::RulDetector::fit(x.view(), &y, params)?;
    let pairs: Vec<(f64, f64)> = x
        .axis_iter(Axis(0))
        .zip(&y)
        .map(|(r, t)| (det.predict(r), *t))
        .collect();
    let fit_metrics = vigil_models::RulMetrics::of(&pairs);
    let scorer: &dyn vigil_models::AnomalyDetector = &det;
    let scores: Vec<f64> = x
        .axis_iter(Axis(0))
        .map(|r| scorer.score(r).score)
        .collect();
    let mut artifact = new_artifact(
        opts,
        names,
        fingerprint,
        1.0,
        m,
        &idx,
        &scores,
        Detector::Rul(det),
    );
    artifact.training.fit_rmse = fit_metrics.map(|f| f.rmse);
    Ok(artifact)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_bar_draws_fractions() {
        assert_eq!(
            progress_bar(0, 10, 0),
            format!("[{}]   0%  0/10 readings, 0 windows", ".".repeat(30))
        );
        assert!(progress_bar(5, 10, 3).starts_with(&format!(
            "[{}{}]  50%",
            "#".repeat(15),
            ".".repeat(15)
        )));
        assert!(progress_bar(0, 0, 0).contains("100%"));
    }
    use crate::engine::score;
    use crate::history::decode_jsonl;
    use crate::sim::{Fault, FaultKind, PlantSim};
    use std::collections::HashMap;

    fn history(sim: &mut PlantSim, steps: usize) -> String {
        sim.payloads(steps)
            .into_iter()
            .map(|p| String::from_utf8(p).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Each detector, calibrated to a 2 % false-alarm rate on held-out windows, meets it there,
    /// and alerts on a pump with developed bearing wear but not on the healthy ones.
    #[tokio::test]
    async fn every_detector_calibrates_and_detects() {
        let cfg = JobConfig::load(&crate::crate_dir().join("../examples/pump-fleet.toml")).unwrap();
        let t0 = 1_767_225_600_000;
        let mut normal = PlantSim::new(8, 5, t0, 5_000, vec![]);
        // 6 hours of normal history, through the job's engine once
        let mut engine = Engine::new(&cfg, None, Arc::new(JobStats::new()))
            .await
            .unwrap();
        let train = decode_jsonl(&history(&mut normal, 12 * 60 * 6), engine.decoder()).unwrap();
        let mut train_feats = Vec::new();
        for b in &train.batches {
            train_feats.extend(engine.process_all(b).await.unwrap().features);
        }
        train_feats.extend(engine.flush().await.unwrap().features);
        let names = engine.features().feature_names().to_vec();
        let fp = engine.features().fingerprint().to_string();
        // the same pumps an hour later, pump-002 developing bearing wear
        normal.add_fault(Fault {
            pump: 2,
            kind: FaultKind::BearingWear,
            start_ms: normal.now_ms(),
        });
        let live = decode_jsonl(&history(&mut normal, 12 * 60), engine.decoder()).unwrap();
        let mut eng = Engine::new(&cfg, None, Arc::new(JobStats::new()))
            .await
            .unwrap();
        let mut feats = Vec::new();
        for b in &live.batches {
            feats.extend(eng.process_all(b).await.unwrap().features);
        }
        feats.extend(eng.flush().await.unwrap().features);
        for choice in [
            DetectorChoice::Pca,
            DetectorChoice::KMeans(3),
            DetectorChoice::Gmm(2),
            DetectorChoice::Ocsvm,
        ] {
            let mut opts = TrainOptions::for_job(&cfg);
            opts.detector = choice;
            opts.target_far = Some(0.02);
            let (a, _) = fit_artifact(&train_feats, names.clone(), fp.clone(), &opts).unwrap();
            let a = &a;
            assert!(
                a.training.validation_rows >= 50,
                "{choice:?}: {}",
                a.training.validation_rows
            );
            assert!(
                a.training.validation_far.unwrap() <= 0.02,
                "{choice:?}: {:?}",
                a.training.validation_far
            );
            // score the live hour: the faulty pump alerts in its last windows, healthy ones rarely
            let alerts: Vec<_> = feats
                .iter()
                .flat_map(|f| {
                    let m = crate::engine::FeatureMatrix::from_batches(
                        std::slice::from_ref(f),
                        names.len(),
                    );
                    score(a, &m, &names, 3, &mut HashMap::new(), false)
                })
                .collect();
            let faulty_alerts = alerts
                .iter()
                .filter(|x| x.asset_id == PlantSim::asset_id(2))
                .count();
            let healthy_alerts = alerts.len() - faulty_alerts;
            println!("{choice:?}: threshold {:.3}, faulty pump alerts {faulty_alerts}, healthy {healthy_alerts} of {} healthy windows", a.threshold, 7 * 60);
            assert!(
                faulty_alerts >= 20,
                "{choice:?}: the faulty pump alerted in only {faulty_alerts} of its last windows"
            );
            assert!(
                healthy_alerts <= 7 * 60 / 10,
                "{choice:?}: {healthy_alerts} healthy alerts"
            );
        }
    }
}
