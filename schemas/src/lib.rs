//! Vigil's wire types and their contracts.
//!
//! This crate owns what crosses a Kafka topic: the [`Reading`] a plant sends, the [`Alert`] Vigil
//! emits, the JSON Schemas that describe both (in `schemas/json/`), and the batch decoder that
//! turns raw Kafka payloads straight into Arrow [`RecordBatch`](arrow::record_batch::RecordBatch)es.
//! It performs no IO and knows nothing about windows, models or Kafka clients.

pub mod alert;
pub mod control;
pub mod decode;
pub mod error;
pub mod reading;

pub use alert::{
    Acknowledgement, Alert, AlertKind, AlertState, Contribution, ModelRef, QualityProblem,
    Severity, SilenceRef,
};
pub use control::{ControlAction, ControlRecord};
pub use decode::{BatchDecoder, DeadLetter, DecodeOutcome, FieldMapping, RejectReason};
pub use error::SchemaError;
pub use reading::{EventTime, Reading, Waveform};

/// Name of the column holding the asset id in every readings batch.
pub const ASSET_COL: &str = "asset_id";
/// Name of the column holding the event time (UTC milliseconds) in every readings batch.
pub const TS_COL: &str = "ts";
