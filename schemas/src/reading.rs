//! The reading record: one asset's measurements at one event time.
//!
//! The Rust type here is the reference for `schemas/json/reading.schema.json`; a test keeps the
//! committed schema equal to the one generated from this type. The hot path never builds a
//! `Reading` per message: [`crate::decode::BatchDecoder`] decodes payloads straight into Arrow.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One telemetry reading as it travels on the input topic (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reading {
    /// The machine the reading belongs to, e.g. `"pump-07"`.
    pub asset_id: String,
    /// When the reading was taken (event time).
    pub ts: EventTime,
    /// Named numeric measurements, e.g. `{"vibration_rms": 1.9, "temperature": 61.2}`.
    /// Values must be finite numbers.
    pub measurements: BTreeMap<String, f64>,
    /// Optional descriptive tags such as `site` and `line`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Optional waveform snapshots by sensor name, e.g. a vibration accelerometer's samples.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub waveforms: BTreeMap<String, Waveform>,
}

/// A waveform snapshot: equally spaced samples starting at the reading's event time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Waveform {
    /// Sample rate in hertz (positive).
    pub rate_hz: f64,
    /// The samples (finite numbers).
    pub samples: Vec<f64>,
}

/// Event time: milliseconds since the Unix epoch (UTC), or an RFC 3339 timestamp string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum EventTime {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    Millis(i64),
    /// An RFC 3339 timestamp such as `2026-11-26T03:00:00Z`.
    Rfc3339(String),
}

impl Reading {
    /// The JSON Schema of a reading, as committed in `schemas/json/reading.schema.json`.
    pub fn json_schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(Reading)).unwrap_or_default()
    }
}
