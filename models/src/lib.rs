//! Vigil's models: detectors, their training, and versioned artifacts.
//!
//! This crate owns the maths that turns feature rows into anomaly scores (the [`detector`] trait
//! and its implementations [`pca`], [`kmeans`], [`gmm`], [`ocsvm`]), remaining useful life
//! ([`rul`], on the gradient-boosted trees of [`gbr`]), the
//! alert lifecycle decision ([`lifecycle`]), the calibration of thresholds from training scores ([`calibrate`]), the JSON artifact that carries
//! a trained model with the feature names and SQL fingerprint it was trained on ([`artifact`]), and
//! the explanation of a score by feature ([`Scored::contributions`]). It sees plain `f64` matrices,
//! never Arrow, Kafka or files other than the artifact it is asked to read or write.

pub mod artifact;
pub mod baselines;
pub mod calibrate;
pub mod conditions;
pub mod detector;
pub mod error;
pub mod gbr;
pub mod gmm;
pub mod kmeans;
pub mod lifecycle;
pub mod ocsvm;
pub mod pca;
pub mod rul;
pub mod scaler;

pub use artifact::{Detector, ModelArtifact, TrainingInfo, ARTIFACT_FORMAT_VERSION};
pub use detector::{AnomalyDetector, Score};
pub use error::ModelError;
pub use gmm::GmmDetector;
pub use kmeans::KMeansDetector;
pub use ocsvm::OcsvmDetector;
pub use pca::{PcaDetector, PcaParams, Scored};
pub use rul::{RulDetector, RulMetrics, RulParams};
pub use scaler::Scaler;
