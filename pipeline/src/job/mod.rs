//! The job file: one TOML file describing a whole job.
//!
//! Owns the file's format ([`JobFile`], `deny_unknown_fields` everywhere), its validation (every
//! problem at once, each with its line, before anything connects: [`validate`]) and the resolved
//! [`JobConfig`] the runtime uses (paths made absolute, durations in ms, mapping and window
//! built).

mod duration;
mod file;
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use duration::parse_duration_ms;
pub use file::JobFile;
use vigil_operators::EventTimeConfig;
use vigil_schemas::FieldMapping;

use crate::PipelineError;

/// Kafka settings of a job.
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaSettings {
    /// Bootstrap servers (`host:port,...`).
    pub brokers: String,
    /// Consumer group shared by all instances of the job.
    pub group_id: String,
    /// Topics readings are consumed from.
    pub input_topics: Vec<String>,
    /// Topic alerts are produced to.
    pub alert_topic: String,
    /// Topic rejected records are produced to.
    pub dead_letter_topic: String,
    /// Topic readings that arrived after their windows closed are produced to.
    pub late_topic: String,
    /// Topic feature rows are produced to, if any.
    pub features_topic: Option<String>,
    /// Topic a shadow model version's alerts go to.
    pub shadow_topic: String,
    /// Topic of alert acknowledgements and silences.
    pub control_topic: String,
    /// Extra librdkafka properties for both clients.
    pub properties: BTreeMap<String, String>,
    /// Most records taken per poll batch.
    pub max_batch: usize,
    /// Longest wait for a batch to fill, ms.
    pub batch_timeout_ms: u64,
    /// Delivery guarantee of the job's outputs.
    pub delivery: Delivery,
    /// Commit cadence, ms.
    pub commit_interval_ms: u64,
    /// Compacted topic of per-partition state.
    pub changelog_topic: String,
    /// Stable instance name, if configured.
    pub instance_id: Option<String>,
    /// Dead-letter records without a key.
    pub require_key: bool,
}

/// Bounds on one input partition's state (`[limits]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most assets tracked; readings of further assets are dead-lettered (`asset_limit`).
    pub max_assets: usize,
    /// Event time after an asset's last reading at which its state is evicted, ms.
    pub evict_after_ms: i64,
}

/// Logging and OpenTelemetry export (`[telemetry]`), before the environment's overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetrySettings {
    /// Log filter (`RUST_LOG` syntax).
    pub log_level: String,
    /// JSON log lines instead of text.
    pub json_logs: bool,
    /// OTLP/HTTP base URL; `None`: no export.
    pub otlp_endpoint: Option<String>,
    /// Metric export interval, ms.
    pub export_interval_ms: u64,
    /// `service.name` of the exported resource.
    pub service_name: String,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        TelemetrySettings {
            log_level: "vigil_pipeline=info,warn".into(),
            json_logs: false,
            otlp_endpoint: None,
            export_interval_ms: 10_000,
            service_name: "vigil".into(),
        }
    }
}

/// The delivery guarantee of a job's outputs (`[kafka] delivery`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Alerts, dead letters, state changelog and consumed offsets commit atomically in one
    /// Kafka transaction; consumers read with `read_committed`.
    ExactlyOnce,
    /// Outputs and state are flushed before offsets are committed; a crash replays records,
    /// repeating alerts with identical ids.
    AtLeastOnce,
}

/// A validated, resolved job.
#[derive(Debug, Clone)]
pub struct JobConfig {
    /// Job name (used in logs and as the default model name).
    pub name: String,
    /// The job file this came from.
    pub path: PathBuf,
    /// Kafka settings.
    pub kafka: KafkaSettings,
    /// Where each part of a reading is found in a payload.
    pub mapping: FieldMapping,
    /// Windows, watermarks, lateness, deduplication and data-quality checks.
    pub event_time: EventTimeConfig,
    /// Per-asset streaming baselines, each with the assets it applies to.
    pub baselines: Vec<crate::alerting::BaselineUse>,
    /// How the baselines raise alerts (each on its own or as one ensemble).
    pub baseline_mode: crate::alerting::BaselineMode,
    /// The alert lifecycle, if alerts have one.
    pub lifecycle: Option<vigil_models::lifecycle::Lifecycle>,
    /// Feature SQL file (absolute).
    pub feature_sql_path: PathBuf,
    /// The feature SQL text.
    pub feature_sql: String,
    /// `[features] native`: plain aggregates by asset run natively (default true).
    pub native_aggregation: bool,
    /// Model artifact (absolute).
    pub model_path: PathBuf,
    /// Registry topic the job follows, if any.
    pub registry_topic: Option<String>,
    /// Model name in the registry.
    pub model_name: String,
    /// How many contributing features an alert lists.
    pub top_features: usize,
    /// Column names of headerless history files (empty: the files have a header row).
    pub history_columns: Vec<String>,
    /// History file for `vigil train` when none is given on the command line.
    pub training_input: Option<PathBuf>,
    /// `vigil backtest` settings, if the job has them.
    pub backtest: Option<BacktestSettings>,
    /// Remaining-useful-life settings, if the job predicts RUL.
    pub rul: Option<RulSettings>,
    /// State bounds.
    pub limits: Limits,
    /// Logs and OpenTelemetry export.
    pub telemetry: TelemetrySettings,
    /// Operating-condition normalisation, if the job has `[conditions]`.
    pub conditions: Option<ConditionSettings>,
}

/// Resolved `[conditions]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionSettings {
    /// Measurements that set the operating condition.
    pub settings: Vec<String>,
    /// Number of operating regimes to find.
    pub regimes: usize,
    /// Measurements z-scored per regime.
    pub normalise: Vec<String>,
}

/// Resolved `[rul]` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct RulSettings {
    /// The age feature's name.
    pub age_feature: String,
    /// Target cap.
    pub cap: f64,
    /// Alert horizon.
    pub horizon: f64,
    /// Regressor settings.
    pub gbr: vigil_models::gbr::GbrParams,
}

/// How a backtest splits and scores its data.
#[derive(Debug, Clone, PartialEq)]
pub enum BacktestProtocol {
    /// SKAB's: per file, the first `train_rows` rows train; pointwise labels in `label`.
    PerFile {
        /// Rows of each file used for training.
        train_rows: usize,
        /// The label column.
        label: String,
    },
    /// C-MAPSS's: train on run-to-failure histories, predict each test asset at its last
    /// reading, compare with the truth file.
    Rul {
        /// Training file (absolute).
        train: PathBuf,
        /// Test file (absolute).
        test: PathBuf,
        /// True RUL per test asset (absolute).
        truth: PathBuf,
        /// Cap applied to the truth for the capped figures.
        truth_cap: Option<f64>,
    },
    /// NAB's: every file is one asset's stream, scored from its first row (the detector learns
    /// as it goes), detections before the probation period (min(15 %, 750) rows) ignored,
    /// against the label windows of a `combined_windows*.json` file.
    Nab {
        /// The label windows (absolute).
        labels: PathBuf,
    },
}

/// Resolved `[backtest]` settings.
#[derive(Debug, Clone)]
pub struct BacktestSettings {
    /// Labelled data (absolute): a CSV file or a folder.
    pub data: PathBuf,
    /// Sub-folders of `data` to use.
    pub include: Vec<String>,
    /// The protocol.
    pub protocol: BacktestProtocol,
    /// The change-point column, if change points are scored (NAB).
    pub changepoint: Option<String>,
    /// Rows in the NAB window to the right of each change point.
    pub changepoint_window_rows: usize,
    /// The detector.
    pub detector: crate::train::DetectorChoice,
    /// Threshold margin over the highest training score.
    pub threshold_margin: f64,
}

impl JobConfig {
    /// Reads and validates a job file; every problem is reported at once.
    pub fn load(path: &Path) -> Result<Self, PipelineError> {
        let text = std::fs::read_to_string(path).map_err(|e| PipelineError::io(path, e))?;
        Self::from_toml(&text, path)
    }

    /// Validates TOML text as if read from `path` (relative paths resolve against its folder).
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, PipelineError> {
        validate::validate(text, path).map_err(|problems| PipelineError::InvalidJob {
            path: path.display().to_string(),
            problems,
        })
    }

    /// Overrides the brokers (e.g. from `--brokers`).
    pub fn with_brokers(mut self, brokers: &str) -> Self {
        self.kafka.brokers = brokers.to_string();
        self
    }
}

#[cfg(test)]
mod tests;
