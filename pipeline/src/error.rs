//! The one error type of the pipeline library, classified by who must act.

use thiserror::Error;

/// Errors of the job runtime.
#[derive(Debug, Error)]
pub enum PipelineError {
    /// The job file is invalid; every problem is listed with its line.
    #[error("{path}: the job file has {} problem(s):\n{}", .problems.len(), .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    InvalidJob {
        /// The job file.
        path: String,
        /// One line per problem, each with `line N:` where known.
        problems: Vec<String>,
    },
    /// A file the job needs could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The IO error.
        source: std::io::Error,
    },
    /// Decoding configuration error.
    #[error(transparent)]
    Schema(#[from] vigil_schemas::SchemaError),
    /// Windows or feature SQL failed.
    #[error(transparent)]
    Operator(#[from] vigil_operators::OperatorError),
    /// Training, loading or matching the model failed.
    #[error(transparent)]
    Model(#[from] vigil_models::ModelError),
    /// Kafka refused or failed an operation.
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// Telemetry (logs, OTLP export) could not be set up.
    #[error("telemetry: {0}")]
    Telemetry(String),
    /// Input data cannot be used for the requested operation.
    #[error("{0}")]
    Data(String),
}

impl PipelineError {
    pub(crate) fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        PipelineError::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}
