//! The model artifact: versioned JSON carrying a trained detector and what it was trained on.
//!
//! An artifact names its features and the fingerprint of the feature SQL that produced them;
//! [`ModelArtifact::check_matches`] refuses to score a job whose SQL or features differ, with a
//! message that says what differs and how to fix it.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{
    AnomalyDetector, GmmDetector, KMeansDetector, ModelError, OcsvmDetector, PcaDetector,
    RulDetector,
};

/// Version of the artifact layout this build writes and reads.
pub const ARTIFACT_FORMAT_VERSION: u32 = 1;

/// What the model was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingInfo {
    /// Number of feature rows (asset windows) used.
    pub rows: usize,
    /// Number of distinct assets.
    pub assets: usize,
    /// Earliest window start, UTC ms.
    pub from_ms: i64,
    /// Latest window end, UTC ms.
    pub to_ms: i64,
    /// Fraction of training rows scoring above the threshold.
    pub training_alarm_rate: f64,
    /// Calibration: the false-alarm rate the threshold was set for (None: margin rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_far: Option<f64>,
    /// Calibration: validation rows (held-out latest windows of the normal history).
    #[serde(default)]
    pub validation_rows: usize,
    /// Calibration: false-alarm rate of the threshold on the validation rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_far: Option<f64>,
    /// RUL models: RMSE of the fit on its training rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fit_rmse: Option<f64>,
}

/// The trained detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Detector {
    /// PCA with Hotelling T² and SPE.
    Pca(PcaDetector),
    /// Distance to the nearest k-means centre.
    Kmeans(KMeansDetector),
    /// Gaussian-mixture negative log-likelihood.
    Gmm(GmmDetector),
    /// One-class SVM decision value.
    Ocsvm(OcsvmDetector),
    /// Remaining-useful-life regressor (score: horizon / predicted RUL).
    Rul(RulDetector),
}

impl Detector {
    /// Number of features the detector expects.
    pub fn n_features(&self) -> usize {
        match self {
            Detector::Pca(d) => d.n_features(),
            Detector::Kmeans(d) => d.scaler.mean.len(),
            Detector::Gmm(d) => d.scaler.mean.len(),
            Detector::Ocsvm(d) => d.scaler.mean.len(),
            Detector::Rul(d) => d.n_features(),
        }
    }

    /// The detector behind the common trait.
    pub fn as_dyn(&self) -> &dyn AnomalyDetector {
        match self {
            Detector::Pca(d) => d,
            Detector::Kmeans(d) => d,
            Detector::Gmm(d) => d,
            Detector::Ocsvm(d) => d,
            Detector::Rul(d) => d,
        }
    }

    /// The RUL model, when the detector is one.
    pub fn rul(&self) -> Option<&RulDetector> {
        match self {
            Detector::Rul(d) => Some(d),
            _ => None,
        }
    }
}

/// A trained, versioned model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelArtifact {
    /// Layout version ([`ARTIFACT_FORMAT_VERSION`]).
    pub format_version: u32,
    /// Model name.
    pub name: String,
    /// Model version (free text; alerts carry it).
    pub version: String,
    /// Creation time, UTC ms.
    pub created_at_ms: i64,
    /// Feature names, in the order the detector expects them.
    pub feature_names: Vec<String>,
    /// Fingerprint of the feature SQL the features came from.
    pub feature_sql_hash: String,
    /// Scores above this raise an alert.
    pub threshold: f64,
    /// What the model was trained on.
    pub training: TrainingInfo,
    /// The detector itself.
    pub detector: Detector,
    /// Operating-condition normalisation applied to readings before windowing, if the job
    /// has `[conditions]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normaliser: Option<crate::conditions::ConditionNormaliser>,
}

impl ModelArtifact {
    /// Reads an artifact file.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
            path: p.clone(),
            source,
        })?;
        Self::from_json(&text, &p)
    }

    /// Parses an artifact from JSON text (`origin` names it in errors).
    pub fn from_json(text: &str, origin: &str) -> Result<Self, ModelError> {
        #[derive(Deserialize)]
        struct Probe {
            format_version: Option<u32>,
        }
        let probe: Probe = serde_json::from_str(text).map_err(|e| ModelError::Format {
            path: origin.to_string(),
            detail: e.to_string(),
        })?;
        match probe.format_version {
            Some(ARTIFACT_FORMAT_VERSION) => {}
            Some(v) => {
                return Err(ModelError::Format {
                    path: origin.to_string(),
                    detail: format!(
                        "format_version {v} is not supported by this Vigil (it reads version {ARTIFACT_FORMAT_VERSION}); retrain or upgrade Vigil"
                    ),
                })
            }
            None => {
                return Err(ModelError::Format { path: origin.to_string(), detail: "no format_version field".into() })
            }
        }
        let a: ModelArtifact = serde_json::from_str(text).map_err(|e| ModelError::Format {
            path: origin.to_string(),
            detail: e.to_string(),
        })?;
        let n = a.detector.n_features();
        if n != a.feature_names.len() {
            return Err(ModelError::Format {
                path: origin.to_string(),
                detail: format!(
                    "detector expects {} features but the artifact names {}",
                    n,
                    a.feature_names.len()
                ),
            });
        }
        Ok(a)
    }

    /// Writes the artifact as pretty JSON.
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        let text = serde_json::to_string_pretty(self).map_err(|e| ModelError::Format {
            path: path.display().to_string(),
            detail: e.to_string(),
        })?;
        std::fs::write(path, text + "\n").map_err(|source| ModelError::Io {
            path: path.display().to_string(),
            source,
        })
    }

    /// `name@version`.
    pub fn id(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }

    /// Fails unless the job's features and SQL fingerprint are the ones this model was trained on.
    pub fn check_matches(
        &self,
        feature_names: &[String],
        sql_hash: &str,
    ) -> Result<(), ModelError> {
        let mut problems = Vec::new();
        if self.feature_names != feature_names {
            let missing: Vec<&str> = self
                .feature_names
                .iter()
                .filter(|f| !feature_names.contains(f))
                .map(String::as_str)
                .collect();
            let extra: Vec<&str> = feature_names
                .iter()
                .filter(|f| !self.feature_names.contains(f))
                .map(String::as_str)
                .collect();
            if missing.is_empty() && extra.is_empty() {
                problems.push(format!(
                    "the features are in a different order (model: {}; job: {})",
                    self.feature_names.join(", "),
                    feature_names.join(", ")
                ));
            } else {
                problems.push(format!(
                    "the model needs features the job does not compute [{}] and the job computes features the model does not know [{}]",
                    missing.join(", "),
                    extra.join(", ")
                ));
            }
        }
        if self.feature_sql_hash != sql_hash {
            problems.push(format!(
                "the feature SQL changed since training (model fingerprint {}, job fingerprint {})",
                short(&self.feature_sql_hash),
                short(sql_hash)
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ModelError::Mismatch {
                model: self.id(),
                detail: format!(
                    "{}; retrain it with `vigil train --job <job.toml>`",
                    problems.join("; ")
                ),
            })
        }
    }

    /// The detector's scorer.
    pub fn scorer(&self) -> &dyn AnomalyDetector {
        self.detector.as_dyn()
    }
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

#[cfg(test)]
mod tests {
    use ndarray::Array2;

    use super::*;
    use crate::PcaParams;

    fn artifact() -> ModelArtifact {
        let data = Array2::from_shape_fn((40, 3), |(i, j)| {
            ((i * 7 + j * 3) % 11) as f64 + j as f64 * (i % 3) as f64
        });
        let (det, _) = PcaDetector::fit(data.view(), PcaParams::default()).unwrap();
        ModelArtifact {
            format_version: ARTIFACT_FORMAT_VERSION,
            name: "pump".into(),
            version: "1".into(),
            created_at_ms: 0,
            feature_names: vec!["a".into(), "b".into(), "c".into()],
            feature_sql_hash: "abc123".into(),
            threshold: 1.0,
            training: TrainingInfo {
                rows: 40,
                assets: 1,
                from_ms: 0,
                to_ms: 1,
                training_alarm_rate: 0.0,
                target_far: None,
                validation_rows: 0,
                validation_far: None,
                fit_rmse: None,
            },
            detector: Detector::Pca(det),
            normaliser: None,
        }
    }

    #[test]
    fn round_trips_through_a_file() {
        let a = artifact();
        let path = std::env::temp_dir().join(format!("vigil-artifact-{}.json", std::process::id()));
        a.save(&path).unwrap();
        let back = ModelArtifact::load(&path).unwrap();
        std::fs::remove_file(&path).ok();
        assert_eq!(back, a);
    }

    #[test]
    fn mismatch_says_what_differs() {
        let a = artifact();
        let names: Vec<String> = vec!["a".into(), "b".into(), "c".into()];
        assert!(a.check_matches(&names, "abc123").is_ok());
        let err = a.check_matches(&names, "zzz").unwrap_err().to_string();
        assert!(
            err.contains("feature SQL changed") && err.contains("pump@1"),
            "{err}"
        );
        let err = a
            .check_matches(&["a".into(), "b".into(), "d".into()], "abc123")
            .unwrap_err()
            .to_string();
        assert!(err.contains("[c]") && err.contains("[d]"), "{err}");
    }

    #[test]
    fn unknown_format_versions_are_refused_clearly() {
        let mut v = serde_json::to_value(artifact()).unwrap();
        v["format_version"] = 99.into();
        let err = ModelArtifact::from_json(&v.to_string(), "m.json")
            .unwrap_err()
            .to_string();
        assert!(err.contains("format_version 99"), "{err}");
        assert!(ModelArtifact::from_json("{", "m.json").is_err());
    }
}
