//! Vigil's event-time operators.
//!
//! This crate owns the decisions about *time*: which windows a reading belongs to
//! ([`window`]), how far event time has progressed ([`watermark`]), buffering readings per
//! pane until their windows close ([`windowed`]), and running the job's feature SQL over each
//! closed window on DataFusion ([`features`]). It does no Kafka or file IO.

pub mod error;
pub mod features;
pub mod watermark;
pub mod window;
pub mod windowed;

pub use error::OperatorError;
pub use features::{sql_fingerprint, FeatureQuery};
pub use watermark::Watermark;
pub use window::{Window, WindowSpec};
pub use windowed::{ClosedWindow, IngestOutcome, WindowOperator};

/// Re-export of the Arrow version the operators use, so downstream crates agree on it.
pub use datafusion::arrow;
