//! `vigil train`: a model from a history file, with the job's own operators and feature SQL.
//!
//! Readings go through the same [`Engine`] as the stream (decoder, windows, watermark, feature
//! SQL); the feature rows of every closed window train the PCA detector; the threshold is set
//! from the training scores; the artifact records the feature names and the SQL fingerprint.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use vigil_models::calibrate::alarm_rate;
use vigil_models::{
    Detector, ModelArtifact, PcaDetector, PcaParams, TrainingInfo, ARTIFACT_FORMAT_VERSION,
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
    /// The threshold is this multiple of the highest training score, so normal data like the
    /// training data does not alarm.
    pub threshold_margin: f64,
}

impl TrainOptions {
    /// Defaults for a job: named after it, version `1`.
    pub fn for_job(cfg: &JobConfig) -> Self {
        TrainOptions {
            name: cfg.name.clone(),
            version: "1".into(),
            pca: PcaParams::default(),
            threshold_margin: 1.2,
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
    /// Components kept by PCA.
    pub components: usize,
}

impl std::fmt::Display for TrainReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let a = &self.artifact;
        writeln!(
            f,
            "trained {} ({} features, {} principal components)",
            a.id(),
            a.feature_names.len(),
            self.components
        )?;
        writeln!(
            f,
            "  data: {} readings ({} rejected, {} late) -> {} windows -> {} feature rows from {} assets",
            self.readings, self.rejected, self.late, self.windows, a.training.rows, a.training.assets
        )?;
        writeln!(
            f,
            "  threshold: {:.3} (training alarm rate {:.2}%)",
            a.threshold,
            a.training.training_alarm_rate * 100.0
        )?;
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
        let h = read_history(p, engine.decoder())?;
        rejected += h.dead.len();
        batches.extend(h.batches);
    }
    let mut report = train_with(&mut engine, &batches, opts).await?;
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
    train_with(&mut engine, batches, opts).await
}

async fn train_with(
    engine: &mut Engine,
    batches: &[RecordBatch],
    opts: &TrainOptions,
) -> Result<TrainReport, PipelineError> {
    let mut features = Vec::new();
    let mut late = 0;
    for b in batches {
        let step = engine.process_all(b).await?;
        late += step.late_rows.len();
        features.extend(step.features);
    }
    features.extend(engine.flush().await?.features);
    let names = engine.features().feature_names().to_vec();
    let m = FeatureMatrix::from_batches(&features, names.len());
    if m.is_empty() {
        return Err(PipelineError::Data(
            "the history produced no feature rows: is it empty, or are all rows rejected?".into(),
        ));
    }
    let (det, scores) = PcaDetector::fit(m.values.view(), opts.pca)?;
    let components = det.components.len();
    let max_score = scores
        .iter()
        .copied()
        .filter(|s| s.is_finite())
        .fold(0.0, f64::max);
    let threshold = (max_score * opts.threshold_margin).max(1.0);
    let assets: BTreeSet<&str> = m.assets.iter().map(String::as_str).collect();
    let artifact = ModelArtifact {
        format_version: ARTIFACT_FORMAT_VERSION,
        name: opts.name.clone(),
        version: opts.version.clone(),
        created_at_ms: now_ms(),
        feature_names: names,
        feature_sql_hash: engine.features().fingerprint().to_string(),
        threshold,
        training: TrainingInfo {
            rows: m.len(),
            assets: assets.len(),
            from_ms: m.window_start.iter().copied().min().unwrap_or_default(),
            to_ms: m.window_end.iter().copied().max().unwrap_or_default(),
            training_alarm_rate: alarm_rate(&scores, threshold),
        },
        detector: Detector::Pca(det),
    };
    Ok(TrainReport {
        artifact,
        readings: batches.iter().map(RecordBatch::num_rows).sum(),
        rejected: 0,
        late,
        windows: features.len(),
        components,
    })
}
