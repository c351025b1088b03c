//! The one error type of the `schemas` crate: contract violations found while building decoders
//! or schemas. Per-record decode failures are not errors: they are [`crate::DeadLetter`]s.

use thiserror::Error;

/// Errors raised when a decoder or schema cannot be built (user configuration at fault).
#[derive(Debug, Error)]
pub enum SchemaError {
    /// The field mapping is unusable (empty, duplicated or reserved column names).
    #[error("invalid field mapping: {0}")]
    InvalidMapping(String),
    /// Arrow refused to build a batch (an internal bug: the decoder keeps columns aligned).
    #[error("arrow error while building a readings batch: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}
