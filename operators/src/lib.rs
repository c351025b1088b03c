//! Vigil's event-time operators.
//!
//! This crate owns the decisions about *time*: which windows a reading belongs to ([`window`],
//! [`windows`]), how far event time has progressed per input partition ([`watermark`]), which
//! readings are late or duplicated and which data-quality problems start ([`stream`], [`dedup`],
//! [`quality`]), snapshots of all that state ([`snapshot`]), running the job's feature SQL over
//! each closed window on DataFusion ([`features`]) and the predictive-maintenance functions that
//! SQL can use ([`functions`]). It does no Kafka or file IO.

pub mod dedup;
pub mod error;
pub mod features;
pub mod functions;
pub mod quality;
pub mod snapshot;
pub mod stats;
pub mod stream;
pub mod watermark;
pub mod window;
pub mod windows;

#[cfg(test)]
mod testutil;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::TimestampMillisecondType;
use vigil_schemas::TS_COL;

pub use error::OperatorError;
pub use features::{sql_fingerprint, FeatureQuery};
pub use quality::{Problem, QualityConfig, QualityEvent};
pub use stream::{Advanced, EventTimeConfig, EventTimeOperator, Ingested};
pub use watermark::{WatermarkConfig, Watermarks};
pub use window::{Window, WindowSpec};
pub use windows::{Bounds, ClosedWindow, PaneData, WindowKind};

/// Re-export of the Arrow version the operators use, so downstream crates agree on it.
pub use datafusion::arrow;

/// The event times of a readings batch (the `ts` column must be non-null milliseconds).
pub fn ts_values(batch: &RecordBatch) -> Result<&[i64], OperatorError> {
    let col = batch
        .column_by_name(TS_COL)
        .and_then(|c| c.as_primitive_opt::<TimestampMillisecondType>())
        .ok_or_else(|| {
            OperatorError::FeatureSql(format!("readings batch has no millisecond `{TS_COL}`"))
        })?;
    if col.null_count() > 0 {
        return Err(OperatorError::FeatureSql(format!(
            "readings batch has null `{TS_COL}` values"
        )));
    }
    Ok(col.values())
}
