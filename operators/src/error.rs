//! The one error type of the `operators` crate.

use thiserror::Error;

/// Errors from windowing and feature computation.
#[derive(Debug, Error)]
pub enum OperatorError {
    /// The window settings are unusable (the user's job file is at fault).
    #[error("invalid window: {0}")]
    InvalidWindow(String),
    /// The feature SQL does not produce what Vigil needs (the user's SQL is at fault).
    #[error("feature SQL: {0}")]
    FeatureSql(String),
    /// DataFusion failed while planning or executing the feature SQL.
    #[error("DataFusion: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    /// A snapshot could not be written or read.
    #[error("snapshot: {0}")]
    Snapshot(String),
    /// Arrow failed while slicing or casting batches (an internal bug).
    #[error("arrow: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
}
