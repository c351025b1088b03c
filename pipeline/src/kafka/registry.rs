//! The model registry: versioned model artifacts and the active/shadow pointers of each model
//! name, kept on a compacted Kafka topic so every job instance and every `vigil model` command
//! sees the same state.
//!
//! Records (keyed, JSON values; compaction keeps the latest per key):
//! `<name>/v/<version>` → the artifact; `<name>/active` → `{"version": v, "history": [..]}`
//! (history = earlier active versions, newest last, for rollback); `<name>/shadow` →
//! `{"version": v}` or `{"version": null}`. [`RegistryView`] folds records into the current state
//! (pure); [`RegistryClient`] reads the topic from the start and writes records.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::BaseConsumer;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde::{Deserialize, Serialize};
use vigil_models::ModelArtifact;

use super::client_config;
use crate::PipelineError;

/// The active pointer of a model name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Active {
    /// The active version.
    pub version: Option<String>,
    /// Earlier active versions, newest last.
    #[serde(default)]
    pub history: Vec<String>,
}

/// The shadow pointer of a model name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Shadow {
    /// The candidate version scoring in shadow, if any.
    pub version: Option<String>,
}

/// The registry state of one model name.
#[derive(Debug, Clone, Default)]
pub struct ModelEntry {
    /// Published versions.
    pub versions: BTreeMap<String, ModelArtifact>,
    /// Active pointer.
    pub active: Active,
    /// Shadow pointer.
    pub shadow: Shadow,
}

/// The registry folded from its records.
#[derive(Debug, Clone, Default)]
pub struct RegistryView {
    /// Per model name.
    pub models: BTreeMap<String, ModelEntry>,
    /// Records that could not be read (key, reason).
    pub rejected: Vec<(String, String)>,
}

impl RegistryView {
    /// Applies one record.
    pub fn apply(&mut self, key: &str, value: Option<&[u8]>) {
        let Some(value) = value else { return };
        let fail = |this: &mut Self, why: String| this.rejected.push((key.to_string(), why));
        if let Some((name, version)) = key.split_once("/v/") {
            match ModelArtifact::from_json(&String::from_utf8_lossy(value), key) {
                Ok(a) => {
                    self.models
                        .entry(name.to_string())
                        .or_default()
                        .versions
                        .insert(version.to_string(), a);
                }
                Err(e) => fail(self, e.to_string()),
            }
        } else if let Some(name) = key.strip_suffix("/active") {
            match serde_json::from_slice::<Active>(value) {
                Ok(a) => self.models.entry(name.to_string()).or_default().active = a,
                Err(e) => fail(self, e.to_string()),
            }
        } else if let Some(name) = key.strip_suffix("/shadow") {
            match serde_json::from_slice::<Shadow>(value) {
                Ok(s) => self.models.entry(name.to_string()).or_default().shadow = s,
                Err(e) => fail(self, e.to_string()),
            }
        } else {
            fail(self, "unknown registry key".into());
        }
    }

    /// The active artifact of `name`, if its version is published.
    pub fn active(&self, name: &str) -> Option<&ModelArtifact> {
        let e = self.models.get(name)?;
        e.versions.get(e.active.version.as_ref()?)
    }

    /// The shadow artifact of `name`, if set and published.
    pub fn shadow(&self, name: &str) -> Option<&ModelArtifact> {
        let e = self.models.get(name)?;
        e.versions.get(e.shadow.version.as_ref()?)
    }
}

/// Reads and writes the registry topic.
pub struct RegistryClient {
    consumer: BaseConsumer,
    producer: BaseProducer,
    topic: String,
    /// The state read so far.
    pub view: RegistryView,
}

impl RegistryClient {
    /// Connects and starts reading `topic` (one partition) from the beginning.
    pub fn new(brokers: &str, topic: &str) -> Result<Self, PipelineError> {
        let consumer = super::log::reader(brokers, topic, "vigil-registry-reader")?;
        let producer: BaseProducer = client_config(brokers, &Default::default()).create()?;
        Ok(RegistryClient {
            consumer,
            producer,
            topic: topic.to_string(),
            view: RegistryView::default(),
        })
    }

    fn apply(view: &mut RegistryView, m: &rdkafka::message::BorrowedMessage<'_>) {
        let key = m
            .key()
            .map(|k| String::from_utf8_lossy(k).to_string())
            .unwrap_or_default();
        view.apply(&key, m.payload());
    }

    /// Applies every record available now (never blocks); returns how many were applied.
    pub fn poll(&mut self) -> usize {
        let view = &mut self.view;
        super::log::poll_now(&self.consumer, |m| Self::apply(view, m))
    }

    /// Reads until the end of the topic (for the CLI), waiting at most `limit`.
    pub fn catch_up(&mut self, limit: Duration) -> Result<(), PipelineError> {
        let view = &mut self.view;
        super::log::read_to_end(&self.consumer, &self.topic, limit, |m| Self::apply(view, m))?;
        Ok(())
    }

    fn put(&self, key: &str, value: &[u8]) -> Result<(), PipelineError> {
        self.producer
            .send(BaseRecord::to(&self.topic).key(key).payload(value))
            .map_err(|(e, _)| PipelineError::from(e))?;
        self.producer.flush(Duration::from_secs(30))?;
        Ok(())
    }

    /// Publishes an artifact as `<name>/v/<version>`.
    pub fn publish(&self, a: &ModelArtifact) -> Result<(), PipelineError> {
        let json = serde_json::to_vec(a).map_err(|e| PipelineError::Data(e.to_string()))?;
        self.put(&format!("{}/v/{}", a.name, a.version), &json)
    }

    /// Makes `version` of `name` active (it must be published).
    pub fn promote(&self, name: &str, version: &str) -> Result<Active, PipelineError> {
        let entry = self.view.models.get(name);
        if !entry.is_some_and(|e| e.versions.contains_key(version)) {
            return Err(PipelineError::Data(format!(
                "{name} version {version} is not published"
            )));
        }
        let mut active = entry.map(|e| e.active.clone()).unwrap_or_default();
        if let Some(prev) = active.version.take() {
            if prev != version {
                active.history.push(prev);
            }
        }
        active.version = Some(version.to_string());
        self.put(
            &format!("{name}/active"),
            &serde_json::to_vec(&active).map_err(|e| PipelineError::Data(e.to_string()))?,
        )?;
        Ok(active)
    }

    /// Makes the previously active version of `name` active again.
    pub fn rollback(&self, name: &str) -> Result<Active, PipelineError> {
        let mut active = self
            .view
            .models
            .get(name)
            .map(|e| e.active.clone())
            .unwrap_or_default();
        let prev = active
            .history
            .pop()
            .ok_or_else(|| PipelineError::Data(format!("{name} has no earlier active version")))?;
        active.version = Some(prev);
        self.put(
            &format!("{name}/active"),
            &serde_json::to_vec(&active).map_err(|e| PipelineError::Data(e.to_string()))?,
        )?;
        Ok(active)
    }

    /// Sets (or clears) the shadow version of `name`.
    pub fn set_shadow(&self, name: &str, version: Option<&str>) -> Result<(), PipelineError> {
        if let Some(v) = version {
            if !self
                .view
                .models
                .get(name)
                .is_some_and(|e| e.versions.contains_key(v))
            {
                return Err(PipelineError::Data(format!(
                    "{name} version {v} is not published"
                )));
            }
        }
        let s = Shadow {
            version: version.map(str::to_string),
        };
        self.put(
            &format!("{name}/shadow"),
            &serde_json::to_vec(&s).map_err(|e| PipelineError::Data(e.to_string()))?,
        )
    }
}
