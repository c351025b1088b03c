//! The alert record Vigil emits on the alert topic, keyed by asset id.
//!
//! The Rust type is the reference for `schemas/json/alert.schema.json` (kept equal by a test).
//! An alert is self-contained: it carries the window, the score and threshold, the model version
//! that scored it and the features that drove the score, fixed at emission time.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What kind of condition an alert reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A model scored a window of an asset above its threshold.
    Anomaly,
    /// A sensor of the asset is silent or stuck (see `quality`).
    DataQuality,
    /// The predicted remaining useful life fell below the model's horizon (see `rul`).
    Rul,
}

impl AlertKind {
    /// The kind's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Anomaly => "anomaly",
            AlertKind::DataQuality => "data_quality",
            AlertKind::Rul => "rul",
        }
    }
}

/// Where an alert is in its lifecycle (jobs with `[alerts] lifecycle`; absent otherwise, when
/// every window over the threshold is its own alert).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// The alert opened: the first record of its id.
    Open,
    /// The firing alert changed (its severity, an acknowledgement or a silence).
    Update,
    /// The condition cleared: the last record of its id.
    Resolved,
}

impl AlertState {
    /// The state's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Open => "open",
            AlertState::Update => "update",
            AlertState::Resolved => "resolved",
        }
    }
}

/// How bad an alert is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Over the threshold.
    Warning,
    /// Far over the threshold (the job's `critical_ratio`).
    Critical,
}

impl Severity {
    /// The severity's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// A data-quality problem of one measurement of an asset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum QualityProblem {
    /// No value of the measurement for longer than the job allows.
    SilentSensor {
        /// The measurement (column name).
        measurement: String,
        /// Event time of its last value, UTC ms.
        last_seen: i64,
        /// Event time without a value when detected, ms.
        silent_for_ms: i64,
        /// True when the watermark was advanced by the wall clock because the whole input
        /// was idle (a dead gateway or stopped line).
        wall_clock: bool,
    },
    /// The measurement kept exactly one value over consecutive windows.
    StuckSensor {
        /// The measurement (column name).
        measurement: String,
        /// The value it is stuck at.
        value: f64,
        /// Consecutive constant windows.
        windows: u32,
        /// Start of the first constant window, UTC ms.
        since: i64,
    },
}

impl QualityProblem {
    /// Short name, e.g. `silent_sensor`.
    pub fn name(&self) -> &'static str {
        match self {
            QualityProblem::SilentSensor { .. } => "silent_sensor",
            QualityProblem::StuckSensor { .. } => "stuck_sensor",
        }
    }

    /// The measurement concerned.
    pub fn measurement(&self) -> &str {
        match self {
            QualityProblem::SilentSensor { measurement, .. }
            | QualityProblem::StuckSensor { measurement, .. } => measurement,
        }
    }
}

/// The model (and version) that scored the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ModelRef {
    /// Model name from the artifact.
    pub name: String,
    /// Model version from the artifact.
    pub version: String,
}

/// One feature's share in an alert's score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Contribution {
    /// Feature name (a column of the feature SQL).
    pub feature: String,
    /// The feature's value in this window.
    pub value: f64,
    /// Its share of the score, between 0 and 1.
    pub share: f64,
    /// Lower end of the normal range seen in training (mean - 3 sd).
    pub normal_low: f64,
    /// Upper end of the normal range seen in training (mean + 3 sd).
    pub normal_high: f64,
    /// How many training standard deviations the value lies from the training mean.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub z: Option<f64>,
}

/// Who acknowledged an alert, when and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Acknowledgement {
    /// Who acknowledged it.
    pub by: String,
    /// Their note (may be empty).
    #[serde(default)]
    pub note: String,
    /// When, UTC milliseconds (the control record's time).
    pub at: i64,
}

/// The silence an alert fell under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SilenceRef {
    /// What was silenced: the asset id, or the alert id.
    pub target: String,
    /// The silence ends at this time, UTC milliseconds.
    pub until: i64,
    /// Who set it.
    pub by: String,
    /// Their note (e.g. the maintenance order).
    #[serde(default)]
    pub note: String,
}

/// The alert format's version: 2 added `ack`, `silence` and `traceparent`. Fields are only
/// ever added (optional), so a reader of version N reads every earlier version.
pub const ALERT_SCHEMA_VERSION: u32 = 2;

fn first_version() -> u32 {
    1
}

/// A maintenance alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Alert {
    /// Version of this record's format ([`ALERT_SCHEMA_VERSION`]); records written before
    /// versioning read as 1.
    #[serde(default = "first_version")]
    pub schema_version: u32,
    /// Deterministic id: the same asset, window, kind and model version always give the same id,
    /// so consumers can de-duplicate.
    pub alert_id: String,
    /// What the alert reports.
    pub kind: AlertKind,
    /// The asset the alert is about (also the Kafka key).
    pub asset_id: String,
    /// Window start, UTC milliseconds (inclusive).
    pub window_start: i64,
    /// Window end, UTC milliseconds (exclusive).
    pub window_end: i64,
    /// Anomaly score of the window (higher is worse).
    pub score: f64,
    /// The threshold the score crossed.
    pub threshold: f64,
    /// The model that scored the window (absent on data-quality alerts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelRef>,
    /// The data-quality problem (kind `data_quality` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<QualityProblem>,
    /// Predicted remaining useful life, in the unit of the model's age feature (kind `rul`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rul: Option<f64>,
    /// Features that drove the score, largest share first.
    pub top_features: Vec<Contribution>,
    /// Wall-clock time the alert was produced, UTC milliseconds.
    pub emitted_at: i64,
    /// Lifecycle state (jobs with `[alerts] lifecycle` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<AlertState>,
    /// Severity (jobs with `[alerts] lifecycle` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// The acknowledgement of the alert, once someone acknowledged it on the control topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack: Option<Acknowledgement>,
    /// The silence covering the alert when it was emitted. A silenced alert is still recorded
    /// on the alert topic, flagged here; notification consumers skip it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silence: Option<SilenceRef>,
    /// W3C trace context (`00-<trace id>-<span id>-<flags>`) of the window close that produced
    /// the alert, also sent as the record's `traceparent` header; absent when the run had no
    /// trace context (no exporter and no `traceparent` on the input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"))]
    pub traceparent: Option<String>,
}

impl Alert {
    /// Deterministic alert id from its identifying parts (FNV-1a 64, hex). `detail` is the model
    /// version for anomalies and `problem/measurement` for data-quality alerts.
    pub fn make_id(asset_id: &str, window_start: i64, kind: AlertKind, detail: &str) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let ws = window_start.to_string();
        for part in [asset_id, ws.as_str(), kind.as_str(), detail] {
            for b in part.bytes().chain(std::iter::once(0xff)) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        }
        format!("{h:016x}")
    }

    /// The JSON Schema of an alert, as committed in `schemas/json/alert.schema.json`.
    pub fn json_schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(Alert)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_id_is_deterministic_and_distinguishes_parts() {
        let a = Alert::make_id("pump-1", 60_000, AlertKind::Anomaly, "1");
        assert_eq!(a, Alert::make_id("pump-1", 60_000, AlertKind::Anomaly, "1"));
        assert_ne!(
            a,
            Alert::make_id("pump-1", 120_000, AlertKind::Anomaly, "1")
        );
        assert_ne!(a, Alert::make_id("pump-2", 60_000, AlertKind::Anomaly, "1"));
        assert_ne!(a, Alert::make_id("pump-1", 60_000, AlertKind::Anomaly, "2"));
        // separator prevents "pump-1"+"0" colliding with "pump-10"+""
        assert_ne!(
            Alert::make_id("a1", 1, AlertKind::Anomaly, ""),
            Alert::make_id("a", 11, AlertKind::Anomaly, "")
        );
    }
}
