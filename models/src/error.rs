//! The one error type of the `models` crate.

use thiserror::Error;

/// Errors from training, loading and checking models.
#[derive(Debug, Error)]
pub enum ModelError {
    /// Not enough (or degenerate) training data.
    #[error("training: {0}")]
    Training(String),
    /// The artifact file could not be read or written.
    #[error("model artifact {path}: {source}")]
    Io {
        /// The artifact path.
        path: String,
        /// The IO error.
        source: std::io::Error,
    },
    /// The artifact is not valid JSON of a known format version.
    #[error("model artifact {path} is not a valid Vigil model: {detail}")]
    Format {
        /// The artifact path.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// The artifact was trained on other features than the job computes.
    #[error("model `{model}` does not match this job: {detail}")]
    Mismatch {
        /// `name@version` of the model.
        model: String,
        /// Which features or SQL differ, and what to do.
        detail: String,
    },
}
